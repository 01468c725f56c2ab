"""Broker adapters: one folder a broker, registered through the ``copytui.adapters`` entry points."""
