//+------------------------------------------------------------------+
//| CopytuiBridge.mqh - the copytui bridge, protocol version 1       |
//|                                                                  |
//| What the MT5 and MT4 EAs share: the connection to copytui (MQL   |
//| sockets only connect out, so the EA dials copytui's bridge), the |
//| lines (one JSON object each, with a sequence number), the hello  |
//| and its proof of the token, heartbeats, and the outbox of events |
//| copytui has not acknowledged yet. The platform files supply:     |
//|   string HelloAccount()        login, server, mode, symbols ...  |
//|   string Answer(string op)     one request's reply fields        |
//|                                                                  |
//| The Python stand-in (adapters/mt/sim_terminal.py) does what this |
//| file does, function by function: keep the two in step.          |
//+------------------------------------------------------------------+
input string BridgeHost = "127.0.0.1"; // copytui's bridge address (allow it under Tools > Options > Expert Advisors)
input ushort BridgePort = 5555;        // the account's port in copytui's config
input string Token      = "";          // the account's bridge token (copytui accounts add NAME --broker mt)
input int    TimerMs    = 50;          // how often the socket is looked at
input int    LookbackDays = 7;         // how far back deal and order history is read

#define BRIDGE_VERSION   1
#define EA_NAME          "copytui-bridge 1.0"
#define OUTBOX_MAX       1000
#define REFUSED_WAIT_MS  10000
#define FIRST_BACKOFF_MS 50
#define MAX_BACKOFF_MS   1000

int    g_socket     = INVALID_HANDLE;
bool   g_ready      = false;        // welcomed: requests and events flow
long   g_seq_out    = 0;            // our last seq on this connection
long   g_seq_in     = 0;            // copytui's last seq on this connection
string g_rx         = "";           // read, not yet a whole line
double g_heartbeat_s = 5.0;
uint   g_last_tx    = 0;            // GetTickCount() at the last line sent
uint   g_last_rx    = 0;            // ... and read
uint   g_next_dial  = 0;
uint   g_backoff_ms = FIRST_BACKOFF_MS;
string g_outbox[];                  // events not acknowledged (JSON bodies without seq)
long   g_outbox_seq[];              // the seq each was last sent with (0: not yet)
string g_keys[];                    // the line being handled, key by key
string g_vals[];

string HelloAccount();
string Answer(const string op);

//+------------------------------------------------------------------+
//| OnTimer: dial, read, beat                                        |
//+------------------------------------------------------------------+
void BridgeTimer()
  {
   uint now = GetTickCount();
   if(g_socket == INVALID_HANDLE)
     {
      if((int)(now - g_next_dial) >= 0)
         Dial();
      return;
     }
   Pump();
   if(g_socket == INVALID_HANDLE)
      return;
   if(g_ready && now - g_last_tx >= (uint)(g_heartbeat_s * 1000))
      SendLine("\"type\":\"hb\"");
   if(now - g_last_rx >= (uint)(g_heartbeat_s * 3000))
      Drop("copytui silent for three heartbeats");
  }

void Dial()
  {
   g_socket = SocketCreate();
   if(g_socket == INVALID_HANDLE)
     {
      Print("copytui bridge: cannot create a socket, error ", GetLastError());
      Backoff();
      return;
     }
   if(!SocketConnect(g_socket, BridgeHost, BridgePort, 1000))
     {
      int err = GetLastError();
      SocketClose(g_socket);
      g_socket = INVALID_HANDLE;
      if(g_backoff_ms == FIRST_BACKOFF_MS)  // said once per outage, not every retry
         PrintFormat("copytui bridge: cannot reach %s:%d (error %d); is copytui running, and %s allowed under Tools > Options > Expert Advisors?",
                     BridgeHost, BridgePort, err, BridgeHost);
      Backoff();
      return;
     }
   g_seq_out = 0;
   g_seq_in  = 0;
   g_rx      = "";
   g_ready   = false;
   g_last_rx = GetTickCount();
  }

void Backoff()
  {
   g_next_dial  = GetTickCount() + g_backoff_ms;
   g_backoff_ms = (uint)MathMin(g_backoff_ms * 2, MAX_BACKOFF_MS);
  }

void Drop(const string why)
  {
   if(g_socket != INVALID_HANDLE)
     {
      Print("copytui bridge: connection closed: ", why);
      SocketClose(g_socket);
     }
   g_socket = INVALID_HANDLE;
   g_ready  = false;
   Backoff();
  }

//+------------------------------------------------------------------+
//| Lines                                                            |
//+------------------------------------------------------------------+
long SendLine(const string body)
  {
   if(g_socket == INVALID_HANDLE)
      return 0;
   g_seq_out++;
   string line = "{\"seq\":" + IntegerToString(g_seq_out) + "," + body + "}\n";
   uchar buf[];
   int len = StringToCharArray(line, buf, 0, WHOLE_ARRAY, CP_UTF8) - 1;  // without the terminating 0
   if(SocketSend(g_socket, buf, (uint)len) != len)
     {
      Drop("send failed");
      return 0;
     }
   g_last_tx = GetTickCount();
   return g_seq_out;
  }

void Pump()
  {
   uint n = SocketIsReadable(g_socket);
   if(n == 0)
     {
      if(!SocketIsConnected(g_socket))
         Drop("copytui closed the connection");
      return;
     }
   uchar buf[];
   int got = SocketRead(g_socket, buf, n, 100);
   if(got <= 0)
     {
      Drop("read failed");
      return;
     }
   g_last_rx = GetTickCount();
   g_rx += CharArrayToString(buf, 0, got, CP_UTF8);
   int nl = StringFind(g_rx, "\n");
   while(nl >= 0 && g_socket != INVALID_HANDLE)
     {
      string line = StringSubstr(g_rx, 0, nl);
      g_rx = StringSubstr(g_rx, nl + 1);
      Handle(line);
      nl = StringFind(g_rx, "\n");
     }
  }

void Handle(const string line)
  {
   if(!ParseFlat(line))
     {
      Print("copytui bridge: unreadable line: ", StringSubstr(line, 0, 120));
      return;
     }
   long seq = GetLong("seq");
   if(seq != g_seq_in + 1)
      PrintFormat("copytui bridge: line %I64d after %I64d", seq, g_seq_in);
   g_seq_in = seq;
   string type = Get("type");
   if(type == "challenge")
      SendHello(Get("nonce"));
   else if(type == "welcome")
      OnWelcome(GetDouble("heartbeat_s"));
   else if(type == "refused")
      OnRefused(Get("reason"));
   else if(type == "ack")
      OnAck(GetLong("upto"));
   else if(type == "req")
     {
      // one request at a time, answered before anything else: MetaTrader runs OnTradeTransaction
      // only once this handler has returned, so a request's events follow its reply
      string fields = Answer(Get("op"));
      SendLine("\"type\":\"reply\",\"re\":" + IntegerToString(seq) + "," + fields);
     }
  }

void SendHello(const string nonce)
  {
   long login = AccountInfoInteger(ACCOUNT_LOGIN);
   string proof = HmacSha256Hex(Token, nonce + ":" + IntegerToString(login));
   SendLine("\"type\":\"hello\",\"v\":" + IntegerToString(BRIDGE_VERSION) + ",\"ea\":" + JStr(EA_NAME) +
            ",\"build\":" + IntegerToString(TerminalInfoInteger(TERMINAL_BUILD)) + "," + HelloAccount() +
            ",\"proof\":\"" + proof + "\"");
  }

void OnWelcome(const double heartbeat_s)
  {
   g_ready = true;
   g_heartbeat_s = heartbeat_s > 0 ? heartbeat_s : 5.0;
   g_backoff_ms = FIRST_BACKOFF_MS;
   Print("copytui bridge: connected to ", BridgeHost, ":", BridgePort);
   for(int i = 0; i < ArraySize(g_outbox) && g_socket != INVALID_HANDLE; i++)
     {
      string again = g_outbox[i];
      StringReplace(again, "\"replay\":false", "\"replay\":true");
      g_outbox_seq[i] = SendLine(again);
     }
  }

void OnRefused(const string reason)
  {
   Print("copytui bridge: copytui refused this terminal: ", reason);
   Drop("refused");
   g_next_dial = GetTickCount() + REFUSED_WAIT_MS;
  }

void OnAck(const long upto)
  {
   int kept = 0;
   for(int i = 0; i < ArraySize(g_outbox); i++)
     {
      if(g_outbox_seq[i] > 0 && g_outbox_seq[i] <= upto)
         continue;
      g_outbox[kept] = g_outbox[i];
      g_outbox_seq[kept] = g_outbox_seq[i];
      kept++;
     }
   ArrayResize(g_outbox, kept);
   ArrayResize(g_outbox_seq, kept);
  }

// an order or deal event: kept until acknowledged, sent now when connected
void QueueEvent(const string body)
  {
   int n = ArraySize(g_outbox);
   if(n >= OUTBOX_MAX)  // the oldest go; copytui reads missed deals back from the history
     {
      for(int i = 1; i < n; i++)
        {
         g_outbox[i - 1] = g_outbox[i];
         g_outbox_seq[i - 1] = g_outbox_seq[i];
        }
      n--;
     }
   ArrayResize(g_outbox, n + 1);
   ArrayResize(g_outbox_seq, n + 1);
   g_outbox[n] = body;
   g_outbox_seq[n] = g_ready ? SendLine(body) : 0;
  }

//+------------------------------------------------------------------+
//| Reading copytui's lines: flat objects of scalars only            |
//+------------------------------------------------------------------+
int SkipSpace(const string s, int i)
  {
   while(i < StringLen(s) && StringGetCharacter(s, i) <= ' ')
      i++;
   return i;
  }

// a JSON string starting at s[i] (the quote); the index after it, -1 when malformed
int ReadString(const string s, int i, string &out)
  {
   out = "";
   int n = StringLen(s);
   if(i >= n || StringGetCharacter(s, i) != '"')
      return -1;
   for(i++; i < n; i++)
     {
      ushort c = StringGetCharacter(s, i);
      if(c == '"')
         return i + 1;
      if(c != '\\')
        {
         out += ShortToString(c);
         continue;
        }
      if(++i >= n)
         return -1;
      c = StringGetCharacter(s, i);
      if(c == 'n')
         out += "\n";
      else if(c == 't')
         out += "\t";
      else if(c == 'r')
         out += "\r";
      else if(c == 'b' || c == 'f')
         continue;
      else if(c == 'u')
        {
         if(i + 4 >= n)
            return -1;
         out += ShortToString((ushort)HexValue(StringSubstr(s, i + 1, 4)));
         i += 4;
        }
      else
         out += ShortToString(c);  // \" \\ \/
     }
   return -1;
  }

int HexValue(const string hex)
  {
   int v = 0;
   for(int i = 0; i < StringLen(hex); i++)
     {
      ushort c = StringGetCharacter(hex, i);
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : 0;
      v = v * 16 + d;
     }
   return v;
  }

bool ParseFlat(const string s)
  {
   ArrayResize(g_keys, 0);
   ArrayResize(g_vals, 0);
   int n = StringLen(s);
   int i = SkipSpace(s, 0);
   if(i >= n || StringGetCharacter(s, i) != '{')
      return false;
   i++;
   while(true)
     {
      i = SkipSpace(s, i);
      if(i >= n)
         return false;
      ushort c = StringGetCharacter(s, i);
      if(c == '}')
         return true;
      if(c == ',')
        {
         i++;
         continue;
        }
      string key, val;
      i = ReadString(s, i, key);
      if(i < 0)
         return false;
      i = SkipSpace(s, i);
      if(i >= n || StringGetCharacter(s, i) != ':')
         return false;
      i = SkipSpace(s, i + 1);
      if(i < n && StringGetCharacter(s, i) == '"')
        {
         i = ReadString(s, i, val);
         if(i < 0)
            return false;
        }
      else
        {
         int start = i;
         while(i < n && StringGetCharacter(s, i) != ',' && StringGetCharacter(s, i) != '}')
            i++;
         val = StringSubstr(s, start, i - start);  // copytui writes no spaces around values
        }
      int k = ArraySize(g_keys);
      ArrayResize(g_keys, k + 1);
      ArrayResize(g_vals, k + 1);
      g_keys[k] = key;
      g_vals[k] = val;
     }
   return false;
  }

string Get(const string key)
  {
   for(int i = 0; i < ArraySize(g_keys); i++)
      if(g_keys[i] == key)
         return g_vals[i];
   return "";
  }

long   GetLong(const string key)   { return StringToInteger(Get(key)); }
double GetDouble(const string key) { return StringToDouble(Get(key)); }
bool   GetBool(const string key)   { return Get(key) == "true"; }

//+------------------------------------------------------------------+
//| Writing JSON                                                     |
//+------------------------------------------------------------------+
string JStr(const string s)
  {
   string out = "\"";
   for(int i = 0; i < StringLen(s); i++)
     {
      ushort c = StringGetCharacter(s, i);
      if(c == '"')
         out += "\\\"";
      else if(c == '\\')
         out += "\\\\";
      else if(c < ' ')
         out += StringFormat("\\u%04x", c);
      else
         out += ShortToString(c);
     }
   return out + "\"";
  }

string JNum(const double v)  { return DoubleToString(v, 8); }
string JInt(const long v)    { return IntegerToString(v); }
string JBool(const bool v)   { return v ? "true" : "false"; }

string Result(const bool ok, const long retcode, const string message)
  {
   return "\"ok\":" + JBool(ok) + ",\"retcode\":" + JInt(retcode) + ",\"message\":" + JStr(message);
  }

//+------------------------------------------------------------------+
//| HMAC-SHA256 (RFC 2104) over CryptEncode's SHA-256, as hex        |
//| check: key "correct horse battery staple", message               |
//| "00112233445566778899aabbccddeeff:5001" gives dfb9fd52d896...    |
//+------------------------------------------------------------------+
string HmacSha256Hex(const string key, const string message)
  {
   uchar k[], m[], none[], inner_in[], inner[], outer_in[], outer[];
   int klen = StringToCharArray(key, k, 0, WHOLE_ARRAY, CP_UTF8) - 1;
   int mlen = StringToCharArray(message, m, 0, WHOLE_ARRAY, CP_UTF8) - 1;
   if(klen > 64)
     {
      ArrayResize(k, klen);
      uchar hashed[];
      CryptEncode(CRYPT_HASH_SHA256, k, none, hashed);
      ArrayCopy(k, hashed);
      klen = 32;
     }
   ArrayResize(inner_in, 64 + mlen);
   ArrayResize(outer_in, 64 + 32);
   for(int i = 0; i < 64; i++)
     {
      uchar b = (uchar)(i < klen ? k[i] : 0);
      inner_in[i] = (uchar)(b ^ 0x36);
      outer_in[i] = (uchar)(b ^ 0x5c);
     }
   ArrayCopy(inner_in, m, 64, 0, mlen);
   CryptEncode(CRYPT_HASH_SHA256, inner_in, none, inner);
   ArrayCopy(outer_in, inner, 64, 0, 32);
   CryptEncode(CRYPT_HASH_SHA256, outer_in, none, outer);
   string hex = "";
   for(int i = 0; i < 32; i++)
      hex += StringFormat("%02x", outer[i]);
   return hex;
  }
//+------------------------------------------------------------------+
