//+------------------------------------------------------------------+
//| CopytuiBridge.mq5 - connects this MetaTrader 5 terminal to       |
//| copytui, a trade copier, over TCP (bridge protocol version 1).   |
//|                                                                  |
//| Attach it to one chart of the account's terminal (any symbol).   |
//| It dials copytui at BridgeHost:BridgePort, proves it knows the   |
//| account's Token, then answers copytui's requests (orders,        |
//| positions, history) and reports every order and deal change.     |
//| It opens no trade of its own: it only does what copytui asks.    |
//|                                                                  |
//| The protocol: adapters/mt/protocol.py. The Python stand-in that  |
//| the tests run in its place: adapters/mt/sim_terminal.py.         |
//+------------------------------------------------------------------+
#property copyright   "copytui"
#property version     "1.00"
#property description "copytui bridge: lets copytui copy trades to and from this account."
#property description "Allow BridgeHost under Tools > Options > Expert Advisors, and turn Algo Trading on."

#include "CopytuiBridge.mqh"

int OnInit()
  {
   if(StringLen(Token) < 12)
     {
      Print("copytui bridge: set Token to the account's bridge token (at least 12 characters)");
      return INIT_PARAMETERS_INCORRECT;
     }
   EventSetMillisecondTimer(TimerMs);
   return INIT_SUCCEEDED;
  }

void OnDeinit(const int reason)
  {
   EventKillTimer();
   Drop("the EA was removed");
  }

void OnTimer() { BridgeTimer(); }

//+------------------------------------------------------------------+
//| Events: every order and deal change, as MetaTrader reports them  |
//+------------------------------------------------------------------+
void OnTradeTransaction(const MqlTradeTransaction &trans, const MqlTradeRequest &request, const MqlTradeResult &result)
  {
   if(trans.type == TRADE_TRANSACTION_DEAL_ADD)
     {
      string deal = DealJson(trans.deal, true);
      if(deal != "")
         QueueEvent("\"type\":\"deal\",\"replay\":false,\"deal\":" + deal);
     }
   else if(trans.type == TRADE_TRANSACTION_ORDER_ADD || trans.type == TRADE_TRANSACTION_ORDER_UPDATE ||
           trans.type == TRADE_TRANSACTION_ORDER_DELETE)
     {
      string order = OrderJson(trans.order);
      if(order != "")
         QueueEvent("\"type\":\"order\",\"replay\":false,\"order\":" + order);
     }
  }

//+------------------------------------------------------------------+
//| The hello's account fields                                       |
//+------------------------------------------------------------------+
string HelloAccount()
  {
   bool hedging = AccountInfoInteger(ACCOUNT_MARGIN_MODE) == ACCOUNT_MARGIN_MODE_RETAIL_HEDGING;
   bool allowed = TerminalInfoInteger(TERMINAL_TRADE_ALLOWED) && MQLInfoInteger(MQL_TRADE_ALLOWED) &&
                  AccountInfoInteger(ACCOUNT_TRADE_EXPERT);
   long last = 0, last_ms = 0;
   SelectHistory(0);
   for(int i = 0; i < HistoryDealsTotal(); i++)
     {
      ulong t = HistoryDealGetTicket(i);
      long ms = HistoryDealGetInteger(t, DEAL_TIME_MSC);
      if(ms > last_ms || (ms == last_ms && (long)t > last))
        {
         last = (long)t;
         last_ms = ms;
        }
     }
   string symbols = "";
   for(int i = 0; i < SymbolsTotal(true); i++)
     {
      string name = SymbolName(i, true);
      double tick = SymbolInfoDouble(name, SYMBOL_TRADE_TICK_SIZE);
      if(tick <= 0)
         tick = SymbolInfoDouble(name, SYMBOL_POINT);
      symbols += (symbols == "" ? "" : ",") + "{\"name\":" + JStr(name) +
                 ",\"volume_min\":" + JNum(SymbolInfoDouble(name, SYMBOL_VOLUME_MIN)) +
                 ",\"volume_max\":" + JNum(SymbolInfoDouble(name, SYMBOL_VOLUME_MAX)) +
                 ",\"volume_step\":" + JNum(SymbolInfoDouble(name, SYMBOL_VOLUME_STEP)) +
                 ",\"tick_size\":" + JNum(tick) +
                 ",\"digits\":" + JInt(SymbolInfoInteger(name, SYMBOL_DIGITS)) +
                 ",\"contract_size\":" + JNum(SymbolInfoDouble(name, SYMBOL_TRADE_CONTRACT_SIZE)) + "}";
     }
   return "\"platform\":\"mt5\",\"login\":" + JInt(AccountInfoInteger(ACCOUNT_LOGIN)) +
          ",\"server\":" + JStr(AccountInfoString(ACCOUNT_SERVER)) +
          ",\"company\":" + JStr(AccountInfoString(ACCOUNT_COMPANY)) +
          ",\"currency\":" + JStr(AccountInfoString(ACCOUNT_CURRENCY)) +
          ",\"mode\":\"" + (hedging ? "hedging" : "netting") + "\",\"trade_allowed\":" + JBool(allowed) +
          ",\"time_ms\":" + JInt((long)TimeTradeServer() * 1000) + ",\"last_deal\":" + JInt(last) +
          ",\"last_deal_ms\":" + JInt(last_ms) + ",\"symbols\":[" + symbols + "]";
  }

// the deal and order history from since_ms (0: LookbackDays ago) until tomorrow
void SelectHistory(const long since_ms)
  {
   datetime from = since_ms > 0 ? (datetime)(since_ms / 1000 - 1) : TimeCurrent() - LookbackDays * 86400;
   HistorySelect(from, TimeCurrent() + 86400);
  }

//+------------------------------------------------------------------+
//| Requests                                                         |
//+------------------------------------------------------------------+
string Answer(const string op)
  {
   if(op == "place")     return DoPlace();
   if(op == "modify")    return DoModify();
   if(op == "cancel")    return DoCancel();
   if(op == "close")     return DoClose();
   if(op == "sltp")      return DoSlTp();
   if(op == "flatten")   return DoFlatten();
   if(op == "positions") return DoPositions();
   if(op == "orders")    return DoOrders();
   if(op == "deals")     return DoDeals();
   if(op == "find")      return DoFind();
   return Result(false, TRADE_RETCODE_INVALID, "unknown op " + op);
  }

bool IsHedging() { return AccountInfoInteger(ACCOUNT_MARGIN_MODE) == ACCOUNT_MARGIN_MODE_RETAIL_HEDGING; }

ENUM_ORDER_TYPE_FILLING Filling(const string symbol)
  {
   long modes = SymbolInfoInteger(symbol, SYMBOL_FILLING_MODE);
   if((modes & SYMBOL_FILLING_FOK) != 0)
      return ORDER_FILLING_FOK;
   if((modes & SYMBOL_FILLING_IOC) != 0)
      return ORDER_FILLING_IOC;
   return ORDER_FILLING_RETURN;
  }

// OrderSend; a request the terminal itself refused (no retcode) reads as INVALID with its error
bool Send(MqlTradeRequest &req, MqlTradeResult &res)
  {
   ZeroMemory(res);
   bool sent = OrderSend(req, res);
   if(!sent && res.retcode == 0)
     {
      res.retcode = TRADE_RETCODE_INVALID;
      res.comment = "refused by the terminal, error " + IntegerToString(GetLastError());
     }
   return res.retcode == TRADE_RETCODE_DONE || res.retcode == TRADE_RETCODE_DONE_PARTIAL ||
          res.retcode == TRADE_RETCODE_PLACED || res.retcode == TRADE_RETCODE_NO_CHANGES;
  }

bool SendMarket(const string symbol, const bool buy, const double volume, const ulong position, const string comment,
                const long magic, const long deviation, MqlTradeResult &res, const double sl = 0, const double tp = 0)
  {
   MqlTradeRequest req;
   ZeroMemory(req);
   req.action       = TRADE_ACTION_DEAL;
   req.symbol       = symbol;
   req.volume       = volume;
   req.type         = buy ? ORDER_TYPE_BUY : ORDER_TYPE_SELL;
   req.price        = buy ? SymbolInfoDouble(symbol, SYMBOL_ASK) : SymbolInfoDouble(symbol, SYMBOL_BID);
   req.deviation    = (ulong)deviation;
   req.magic        = (ulong)magic;
   req.comment      = comment;
   req.position     = position;
   req.sl           = sl;
   req.tp           = tp;
   req.type_filling = Filling(symbol);
   return Send(req, res);
  }

string Made(const string made, const ulong first)
  {
   return ",\"order\":" + JInt((long)first) + ",\"orders\":[" + made + "]";
  }

void AddMade(string &made, ulong &first, const ulong order)
  {
   made += (made == "" ? "" : ",") + JInt((long)order);
   if(first == 0)
      first = order;
  }

string DoPlace()
  {
   string symbol = Get("symbol"), kind = Get("kind"), comment = Get("comment");
   bool buy = Get("side") == "buy";
   double left = GetDouble("volume");
   long magic = GetLong("magic"), deviation = GetLong("deviation");
   string made = "";
   ulong first = 0;
   MqlTradeResult res;
   ZeroMemory(res);
   if(GetBool("reduce_first") && kind == "market" && IsHedging())
     {
      // close the opposite positions of the symbol, oldest ticket first, before opening anything
      ulong tickets[];
      for(int i = 0; i < PositionsTotal(); i++)
        {
         ulong t = PositionGetTicket(i);
         bool long_pos = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY;
         if(PositionGetString(POSITION_SYMBOL) == symbol && long_pos == !buy)
            Append(tickets, t);
        }
      ArraySort(tickets);
      for(int i = 0; i < ArraySize(tickets) && left > 1e-9; i++)
        {
         if(!PositionSelectByTicket(tickets[i]))
            continue;
         double take = MathMin(left, PositionGetDouble(POSITION_VOLUME));
         if(!SendMarket(symbol, buy, take, tickets[i], comment, magic, deviation, res))
            return Result(false, res.retcode, res.comment) + Made(made, first);
         AddMade(made, first, res.order);
         left = NormalizeDouble(left - take, 8);
        }
     }
   if(left > 1e-9)
     {
      bool ok;
      if(kind == "market")
         ok = SendMarket(symbol, buy, left, 0, comment, magic, deviation, res, GetDouble("sl"), GetDouble("tp"));
      else
        {
         MqlTradeRequest req;
         ZeroMemory(req);
         req.action       = TRADE_ACTION_PENDING;
         req.symbol       = symbol;
         req.volume       = left;
         req.magic        = (ulong)magic;
         req.comment      = comment;
         req.sl           = GetDouble("sl");
         req.tp           = GetDouble("tp");
         req.type_time    = ORDER_TIME_GTC;
         req.type_filling = ORDER_FILLING_RETURN;
         if(kind == "limit")
           {
            req.type  = buy ? ORDER_TYPE_BUY_LIMIT : ORDER_TYPE_SELL_LIMIT;
            req.price = GetDouble("price");
           }
         else if(kind == "stop")
           {
            req.type  = buy ? ORDER_TYPE_BUY_STOP : ORDER_TYPE_SELL_STOP;
            req.price = GetDouble("stop");
           }
         else
           {
            req.type      = buy ? ORDER_TYPE_BUY_STOP_LIMIT : ORDER_TYPE_SELL_STOP_LIMIT;
            req.price     = GetDouble("stop");   // the trigger
            req.stoplimit = GetDouble("price");  // the limit once triggered
           }
         ok = Send(req, res);
        }
      if(!ok)
         return Result(false, res.retcode, res.comment) + Made(made, first);
      AddMade(made, first, res.order);
     }
   return Result(true, res.retcode, res.comment) + Made(made, first);
  }

string DoModify()
  {
   ulong ticket = (ulong)GetLong("ticket");
   if(!OrderSelect(ticket))
      return Result(false, TRADE_RETCODE_INVALID_ORDER, "no working order #" + JInt((long)ticket));
   ENUM_ORDER_TYPE type = (ENUM_ORDER_TYPE)OrderGetInteger(ORDER_TYPE);
   double price = GetDouble("price"), stop = GetDouble("stop");
   MqlTradeRequest req;
   MqlTradeResult res;
   ZeroMemory(req);
   req.action     = TRADE_ACTION_MODIFY;
   req.order      = ticket;
   req.symbol     = OrderGetString(ORDER_SYMBOL);
   req.sl         = GetDouble("sl");
   req.tp         = GetDouble("tp");
   req.type_time  = (ENUM_ORDER_TYPE_TIME)OrderGetInteger(ORDER_TYPE_TIME);
   req.expiration = (datetime)OrderGetInteger(ORDER_TIME_EXPIRATION);
   req.price      = OrderGetDouble(ORDER_PRICE_OPEN);
   req.stoplimit  = OrderGetDouble(ORDER_PRICE_STOPLIMIT);
   if(type == ORDER_TYPE_BUY_LIMIT || type == ORDER_TYPE_SELL_LIMIT)
      req.price = price > 0 ? price : req.price;
   else if(type == ORDER_TYPE_BUY_STOP || type == ORDER_TYPE_SELL_STOP)
      req.price = stop > 0 ? stop : req.price;
   else
     {
      req.price = stop > 0 ? stop : req.price;
      req.stoplimit = price > 0 ? price : req.stoplimit;
     }
   bool ok = Send(req, res);
   return Result(ok, res.retcode, res.comment);
  }

string DoCancel()
  {
   MqlTradeRequest req;
   MqlTradeResult res;
   ZeroMemory(req);
   req.action = TRADE_ACTION_REMOVE;
   req.order  = (ulong)GetLong("ticket");
   bool ok = Send(req, res);
   return Result(ok, res.retcode, res.comment);
  }

string DoClose()
  {
   ulong position = (ulong)GetLong("position");
   if(!PositionSelectByTicket(position))
      return Result(false, TRADE_RETCODE_POSITION_CLOSED, "no position #" + JInt((long)position));
   double volume = GetDouble("volume");
   if(volume <= 0)
      volume = PositionGetDouble(POSITION_VOLUME);
   bool long_pos = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY;
   MqlTradeResult res;
   bool ok = SendMarket(PositionGetString(POSITION_SYMBOL), !long_pos, volume, IsHedging() ? position : 0,
                        Get("comment"), GetLong("magic"), GetLong("deviation"), res);
   return Result(ok, res.retcode, res.comment) + Made(ok ? JInt((long)res.order) : "", ok ? res.order : 0);
  }

string DoSlTp()
  {
   ulong position = (ulong)GetLong("position");
   if(!PositionSelectByTicket(position))
      return Result(false, TRADE_RETCODE_POSITION_CLOSED, "no position #" + JInt((long)position));
   MqlTradeRequest req;
   MqlTradeResult res;
   ZeroMemory(req);
   req.action   = TRADE_ACTION_SLTP;
   req.position = position;
   req.symbol   = PositionGetString(POSITION_SYMBOL);
   req.sl       = GetDouble("sl");
   req.tp       = GetDouble("tp");
   bool ok = Send(req, res);
   return Result(ok, res.retcode, res.comment);
  }

string DoFlatten()
  {
   string symbol = Get("symbol");
   long deviation = GetLong("deviation");
   MqlTradeResult res;
   ZeroMemory(res);
   res.retcode = TRADE_RETCODE_DONE;
   for(int i = OrdersTotal() - 1; i >= 0; i--)
     {
      ulong t = OrderGetTicket(i);
      if(symbol != "" && OrderGetString(ORDER_SYMBOL) != symbol)
         continue;
      MqlTradeRequest req;
      ZeroMemory(req);
      req.action = TRADE_ACTION_REMOVE;
      req.order  = t;
      if(!Send(req, res))
         return Result(false, res.retcode, res.comment);
     }
   ulong tickets[];
   for(int i = 0; i < PositionsTotal(); i++)
     {
      ulong t = PositionGetTicket(i);
      if(symbol == "" || PositionGetString(POSITION_SYMBOL) == symbol)
         Append(tickets, t);
     }
   ArraySort(tickets);
   for(int i = 0; i < ArraySize(tickets); i++)
     {
      if(!PositionSelectByTicket(tickets[i]))
         continue;
      bool long_pos = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY;
      if(!SendMarket(PositionGetString(POSITION_SYMBOL), !long_pos, PositionGetDouble(POSITION_VOLUME),
                     IsHedging() ? tickets[i] : 0, "copytui flatten", 0, deviation, res))
         return Result(false, res.retcode, res.comment);
     }
   return Result(true, TRADE_RETCODE_DONE, "");
  }

string DoPositions()
  {
   string symbol = Get("symbol"), rows = "";
   for(int i = 0; i < PositionsTotal(); i++)
     {
      ulong t = PositionGetTicket(i);
      if(symbol != "" && PositionGetString(POSITION_SYMBOL) != symbol)
         continue;
      rows += (rows == "" ? "" : ",") + PositionJson(t);
     }
   return Result(true, TRADE_RETCODE_DONE, "") + ",\"positions\":[" + rows + "]";
  }

string DoOrders()
  {
   string symbol = Get("symbol"), rows = "";
   for(int i = 0; i < OrdersTotal(); i++)
     {
      ulong t = OrderGetTicket(i);
      ENUM_ORDER_TYPE type = (ENUM_ORDER_TYPE)OrderGetInteger(ORDER_TYPE);
      if(type == ORDER_TYPE_BUY || type == ORDER_TYPE_SELL || type == ORDER_TYPE_CLOSE_BY)
         continue;  // market orders on their way are not working orders
      if(symbol != "" && OrderGetString(ORDER_SYMBOL) != symbol)
         continue;
      string row = OrderJson(t);
      if(row != "")
         rows += (rows == "" ? "" : ",") + row;
     }
   return Result(true, TRADE_RETCODE_DONE, "") + ",\"pending\":[" + rows + "]";
  }

string DoDeals()
  {
   long after_ms = GetLong("after_ms"), after_ticket = GetLong("after_ticket"), limit = GetLong("limit");
   SelectHistory(after_ms);
   ulong tickets[];
   long times[];
   for(int i = 0; i < HistoryDealsTotal(); i++)
     {
      ulong t = HistoryDealGetTicket(i);
      long type = HistoryDealGetInteger(t, DEAL_TYPE);
      long ms = HistoryDealGetInteger(t, DEAL_TIME_MSC);
      if((type != DEAL_TYPE_BUY && type != DEAL_TYPE_SELL) || ms < after_ms || (ms == after_ms && (long)t <= after_ticket))
         continue;
      int n = ArraySize(tickets), j = n;  // kept in (time, ticket) order as they come
      ArrayResize(tickets, n + 1);
      ArrayResize(times, n + 1);
      while(j > 0 && (times[j - 1] > ms || (times[j - 1] == ms && tickets[j - 1] > t)))
        {
         tickets[j] = tickets[j - 1];
         times[j] = times[j - 1];
         j--;
        }
      tickets[j] = t;
      times[j] = ms;
     }
   string rows = "";
   int count = (int)MathMin(ArraySize(tickets), limit);
   for(int i = 0; i < count; i++)
      rows += (i > 0 ? "," : "") + DealJson(tickets[i], false);
   return Result(true, TRADE_RETCODE_DONE, "") + ",\"deals\":[" + rows + "],\"more\":" + JBool(ArraySize(tickets) > count);
  }

string DoFind()
  {
   string comment = Get("comment");
   long magic = GetLong("magic");
   ulong found[];  // collected first: building a row selects history and would upset the loop
   for(int i = 0; i < OrdersTotal(); i++)
     {
      ulong t = OrderGetTicket(i);
      if((comment != "" && OrderGetString(ORDER_COMMENT) == comment) || (magic != 0 && OrderGetInteger(ORDER_MAGIC) == magic))
         Append(found, t);
     }
   SelectHistory(GetLong("since_ms"));
   for(int i = 0; i < HistoryOrdersTotal(); i++)
     {
      ulong t = HistoryOrderGetTicket(i);
      if((comment != "" && HistoryOrderGetString(t, ORDER_COMMENT) == comment) ||
         (magic != 0 && HistoryOrderGetInteger(t, ORDER_MAGIC) == magic))
         Append(found, t);
     }
   string rows = "";
   for(int i = 0; i < ArraySize(found); i++)
     {
      string row = OrderJson(found[i]);
      if(row != "")
         rows += (rows == "" ? "" : ",") + row;
     }
   return Result(true, TRADE_RETCODE_DONE, "") + ",\"found\":[" + rows + "]";
  }

void Append(ulong &list[], const ulong value)
  {
   int n = ArraySize(list);
   ArrayResize(list, n + 1);
   list[n] = value;
  }

//+------------------------------------------------------------------+
//| Rows                                                             |
//+------------------------------------------------------------------+
string KindOf(const ENUM_ORDER_TYPE type)
  {
   if(type == ORDER_TYPE_BUY_LIMIT || type == ORDER_TYPE_SELL_LIMIT)
      return "limit";
   if(type == ORDER_TYPE_BUY_STOP || type == ORDER_TYPE_SELL_STOP)
      return "stop";
   if(type == ORDER_TYPE_BUY_STOP_LIMIT || type == ORDER_TYPE_SELL_STOP_LIMIT)
      return "stop_limit";
   return "market";
  }

string StateOf(const ENUM_ORDER_STATE state)
  {
   if(state == ORDER_STATE_PARTIAL)
      return "partial";
   if(state == ORDER_STATE_FILLED)
      return "filled";
   if(state == ORDER_STATE_CANCELED)
      return "cancelled";
   if(state == ORDER_STATE_REJECTED)
      return "rejected";
   if(state == ORDER_STATE_EXPIRED)
      return "expired";
   return "placed";  // started, placed, request_add/modify/cancel: working as far as copytui is concerned
  }

// volume filled and its average price, from the deals of the order (in the selected history)
void Fills(const ulong order, double &filled, double &avg)
  {
   double cost = 0;
   filled = 0;
   for(int i = 0; i < HistoryDealsTotal(); i++)
     {
      ulong t = HistoryDealGetTicket(i);
      if((ulong)HistoryDealGetInteger(t, DEAL_ORDER) != order)
         continue;
      double v = HistoryDealGetDouble(t, DEAL_VOLUME);
      filled += v;
      cost += v * HistoryDealGetDouble(t, DEAL_PRICE);
     }
   avg = filled > 0 ? cost / filled : 0;
  }

// an order, working or in the history; "" when MetaTrader knows no such order
string OrderJson(const ulong ticket)
  {
   bool open = OrderSelect(ticket);
   if(!open && !HistoryOrderSelect(ticket))
      return "";
   ENUM_ORDER_TYPE type;
   ENUM_ORDER_STATE state;
   string symbol, comment;
   double initial, current, open_price, stoplimit, sl, tp;
   long magic, position, time_ms;
   if(open)
     {
      type = (ENUM_ORDER_TYPE)OrderGetInteger(ORDER_TYPE);
      state = (ENUM_ORDER_STATE)OrderGetInteger(ORDER_STATE);
      symbol = OrderGetString(ORDER_SYMBOL);
      comment = OrderGetString(ORDER_COMMENT);
      initial = OrderGetDouble(ORDER_VOLUME_INITIAL);
      current = OrderGetDouble(ORDER_VOLUME_CURRENT);
      open_price = OrderGetDouble(ORDER_PRICE_OPEN);
      stoplimit = OrderGetDouble(ORDER_PRICE_STOPLIMIT);
      sl = OrderGetDouble(ORDER_SL);
      tp = OrderGetDouble(ORDER_TP);
      magic = OrderGetInteger(ORDER_MAGIC);
      position = OrderGetInteger(ORDER_POSITION_ID);
      time_ms = OrderGetInteger(ORDER_TIME_SETUP_MSC);
     }
   else
     {
      type = (ENUM_ORDER_TYPE)HistoryOrderGetInteger(ticket, ORDER_TYPE);
      state = (ENUM_ORDER_STATE)HistoryOrderGetInteger(ticket, ORDER_STATE);
      symbol = HistoryOrderGetString(ticket, ORDER_SYMBOL);
      comment = HistoryOrderGetString(ticket, ORDER_COMMENT);
      initial = HistoryOrderGetDouble(ticket, ORDER_VOLUME_INITIAL);
      current = HistoryOrderGetDouble(ticket, ORDER_VOLUME_CURRENT);
      open_price = HistoryOrderGetDouble(ticket, ORDER_PRICE_OPEN);
      stoplimit = HistoryOrderGetDouble(ticket, ORDER_PRICE_STOPLIMIT);
      sl = HistoryOrderGetDouble(ticket, ORDER_SL);
      tp = HistoryOrderGetDouble(ticket, ORDER_TP);
      magic = HistoryOrderGetInteger(ticket, ORDER_MAGIC);
      position = HistoryOrderGetInteger(ticket, ORDER_POSITION_ID);
      time_ms = HistoryOrderGetInteger(ticket, ORDER_TIME_SETUP_MSC);
     }
   if(type == ORDER_TYPE_CLOSE_BY || initial <= 0)
      return "";
   SelectHistory(0);  // after reading: HistoryOrderSelect narrowed the history to that one order
   string kind = KindOf(type);
   double price = 0, stop = 0, filled, avg;
   if(kind == "limit")
      price = open_price;
   else if(kind == "stop")
      stop = open_price;
   else if(kind == "stop_limit")
     {
      stop = open_price;
      price = stoplimit;
     }
   Fills(ticket, filled, avg);
   filled = MathMax(filled, initial - current);
   bool buy = type == ORDER_TYPE_BUY || type == ORDER_TYPE_BUY_LIMIT || type == ORDER_TYPE_BUY_STOP || type == ORDER_TYPE_BUY_STOP_LIMIT;
   return "{\"ticket\":" + JInt((long)ticket) + ",\"symbol\":" + JStr(symbol) + ",\"side\":\"" + (buy ? "buy" : "sell") +
          "\",\"kind\":\"" + kind + "\",\"volume\":" + JNum(initial) + ",\"filled\":" + JNum(filled) +
          ",\"price\":" + JNum(price) + ",\"stop\":" + JNum(stop) + ",\"sl\":" + JNum(sl) + ",\"tp\":" + JNum(tp) +
          ",\"avg_price\":" + JNum(avg) + ",\"magic\":" + JInt(magic) + ",\"comment\":" + JStr(comment) +
          ",\"position\":" + JInt(position == (long)ticket ? 0 : position) + ",\"state\":\"" + StateOf(state) +
          "\",\"time_ms\":" + JInt(time_ms) + ",\"reason\":\"\"}";
  }

// net lots held in a symbol now, and the average price of the side held
void NetOf(const string symbol, double &net, double &price)
  {
   double buy = 0, sell = 0, buy_cost = 0, sell_cost = 0;
   for(int i = 0; i < PositionsTotal(); i++)
     {
      ulong t = PositionGetTicket(i);
      if(PositionGetString(POSITION_SYMBOL) != symbol)
         continue;
      double v = PositionGetDouble(POSITION_VOLUME), p = PositionGetDouble(POSITION_PRICE_OPEN);
      if(PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY)
        {
         buy += v;
         buy_cost += v * p;
        }
      else
        {
         sell += v;
         sell_cost += v * p;
        }
     }
   net = NormalizeDouble(buy - sell, 8);
   price = net > 0 ? buy_cost / buy : (net < 0 ? sell_cost / sell : 0);
  }

// a buy or sell deal ("" for balance and other deals); with_net: the symbol's net after it (live events)
string DealJson(const ulong ticket, const bool with_net)
  {
   if(!HistoryDealSelect(ticket))
      return "";
   long type = HistoryDealGetInteger(ticket, DEAL_TYPE);
   if(type != DEAL_TYPE_BUY && type != DEAL_TYPE_SELL)
      return "";
   ulong order = (ulong)HistoryDealGetInteger(ticket, DEAL_ORDER);
   string symbol = HistoryDealGetString(ticket, DEAL_SYMBOL);
   double volume = HistoryDealGetDouble(ticket, DEAL_VOLUME), price = HistoryDealGetDouble(ticket, DEAL_PRICE);
   long time_ms = HistoryDealGetInteger(ticket, DEAL_TIME_MSC), magic = HistoryDealGetInteger(ticket, DEAL_MAGIC);
   long position = HistoryDealGetInteger(ticket, DEAL_POSITION_ID), entry = HistoryDealGetInteger(ticket, DEAL_ENTRY);
   string comment = HistoryDealGetString(ticket, DEAL_COMMENT);
   SelectHistory(0);  // after reading: HistoryDealSelect narrowed the history to that one deal
   double cum = 0;    // the order's volume filled up to and including this deal
   for(int i = 0; i < HistoryDealsTotal(); i++)
     {
      ulong t = HistoryDealGetTicket(i);
      if((ulong)HistoryDealGetInteger(t, DEAL_ORDER) == order && t <= ticket)
         cum += HistoryDealGetDouble(t, DEAL_VOLUME);
     }
   double order_volume = OrderSelect(order) ? OrderGetDouble(ORDER_VOLUME_INITIAL) : HistoryOrderGetDouble(order, ORDER_VOLUME_INITIAL);
   if(order_volume <= 0)
      order_volume = MathMax(cum, volume);
   string entry_name = entry == DEAL_ENTRY_IN ? "in" : (entry == DEAL_ENTRY_OUT ? "out" : (entry == DEAL_ENTRY_INOUT ? "inout" : "out_by"));
   string net_fields = ",\"net\":null,\"net_price\":null";
   if(with_net)
     {
      double net, net_price;
      NetOf(symbol, net, net_price);
      net_fields = ",\"net\":" + JNum(net) + ",\"net_price\":" + JNum(net_price);
     }
   return "{\"ticket\":" + JInt((long)ticket) + ",\"order\":" + JInt((long)order) + ",\"position\":" + JInt(position) +
          ",\"symbol\":" + JStr(symbol) + ",\"side\":\"" + (type == DEAL_TYPE_BUY ? "buy" : "sell") +
          "\",\"entry\":\"" + entry_name + "\",\"volume\":" + JNum(volume) + ",\"price\":" + JNum(price) +
          ",\"time_ms\":" + JInt(time_ms) + ",\"magic\":" + JInt(magic) + ",\"comment\":" + JStr(comment) +
          ",\"order_volume\":" + JNum(order_volume) + ",\"order_filled\":" + JNum(MathMax(cum, volume)) + net_fields + "}";
  }

// the selected position (PositionGetTicket / PositionSelectByTicket)
string PositionJson(const ulong ticket)
  {
   return "{\"ticket\":" + JInt((long)ticket) + ",\"symbol\":" + JStr(PositionGetString(POSITION_SYMBOL)) +
          ",\"side\":\"" + (PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY ? "buy" : "sell") +
          "\",\"volume\":" + JNum(PositionGetDouble(POSITION_VOLUME)) +
          ",\"price\":" + JNum(PositionGetDouble(POSITION_PRICE_OPEN)) +
          ",\"sl\":" + JNum(PositionGetDouble(POSITION_SL)) + ",\"tp\":" + JNum(PositionGetDouble(POSITION_TP)) +
          ",\"profit\":" + JNum(PositionGetDouble(POSITION_PROFIT)) + ",\"magic\":" + JInt(PositionGetInteger(POSITION_MAGIC)) +
          ",\"comment\":" + JStr(PositionGetString(POSITION_COMMENT)) +
          ",\"time_ms\":" + JInt(PositionGetInteger(POSITION_TIME_MSC)) + "}";
  }
//+------------------------------------------------------------------+
