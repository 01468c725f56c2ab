//+------------------------------------------------------------------+
//| CopytuiBridge.mq4 - connects this MetaTrader 4 terminal to       |
//| copytui, a trade copier, over TCP (bridge protocol version 1).   |
//|                                                                  |
//| The same protocol as the MT5 EA, as far as MT4's API allows:     |
//| - MT4 has no trade transactions: the timer compares the open     |
//|   orders with what it saw last and reports the difference;       |
//| - MT4 has no deals: an opened ticket T is deal T ("in"), its     |
//|   close is deal T + 1000000000000 ("out", under an order id of   |
//|   the same number), a partial close's remainder (comment         |
//|   "from #T") is the same position going on;                      |
//| - every account is "hedging" (tickets), stop-limit orders do not |
//|   exist, and MT4's error codes are sent as MT5's retcodes.       |
//| MQL4's socket functions need a recent MT4 build (see README).    |
//+------------------------------------------------------------------+
#property copyright   "copytui"
#property version     "1.00"
#property strict
#property description "copytui bridge: lets copytui copy trades to and from this account."
#property description "Allow BridgeHost under Tools > Options > Expert Advisors, and turn AutoTrading on."

#include <stderror.mqh>
#include "CopytuiBridge.mqh"

#define CLOSE_ID 1000000000000  // added to a ticket: its close (deal and order id)

int    g_known[];        // open tickets seen at the last scan
int    g_known_type[];
double g_known_price[];
double g_known_sl[];
double g_known_tp[];

int OnInit()
  {
   if(StringLen(Token) < 12)
     {
      Print("copytui bridge: set Token to the account's bridge token (at least 12 characters)");
      return INIT_PARAMETERS_INCORRECT;
     }
   Scan(false);  // what is open now is the start, not news
   EventSetMillisecondTimer(TimerMs);
   return INIT_SUCCEEDED;
  }

void OnDeinit(const int reason)
  {
   EventKillTimer();
   Drop("the EA was removed");
  }

void OnTimer()
  {
   BridgeTimer();
   Scan(true);
  }

//+------------------------------------------------------------------+
//| Events: what changed since the last scan                         |
//+------------------------------------------------------------------+
int Known(const int ticket)
  {
   for(int i = 0; i < ArraySize(g_known); i++)
      if(g_known[i] == ticket)
         return i;
   return -1;
  }

void Remember(const int k)
  {
   g_known[k] = OrderTicket();
   g_known_type[k] = OrderType();
   g_known_price[k] = OrderOpenPrice();
   g_known_sl[k] = OrderStopLoss();
   g_known_tp[k] = OrderTakeProfit();
  }

void Scan(const bool report)
  {
   int open[];
   ArrayResize(open, 0);
   for(int i = 0; i < OrdersTotal(); i++)
     {
      if(!OrderSelect(i, SELECT_BY_POS, MODE_TRADES))
         continue;
      int t = OrderTicket();
      ArrayResize(open, ArraySize(open) + 1);
      open[ArraySize(open) - 1] = t;
      int k = Known(t);
      bool market = OrderType() <= OP_SELL;
      if(k < 0)
        {
         k = ArraySize(g_known);
         ArrayResize(g_known, k + 1);
         ArrayResize(g_known_type, k + 1);
         ArrayResize(g_known_price, k + 1);
         ArrayResize(g_known_sl, k + 1);
         ArrayResize(g_known_tp, k + 1);
         Remember(k);
         if(!report)
            continue;
         QueueEvent("\"type\":\"order\",\"replay\":false,\"order\":" + OrderJson(market ? "filled" : "placed"));
         if(market && StringFind(OrderComment(), "from #") != 0)
            QueueEvent("\"type\":\"deal\",\"replay\":false,\"deal\":" + InDealJson(true));
         continue;
        }
      bool triggered = market && g_known_type[k] > OP_SELL;
      bool changed = !market && (OrderOpenPrice() != g_known_price[k] || OrderStopLoss() != g_known_sl[k] ||
                                 OrderTakeProfit() != g_known_tp[k]);
      Remember(k);
      if(report && triggered)
        {
         QueueEvent("\"type\":\"order\",\"replay\":false,\"order\":" + OrderJson("filled"));
         QueueEvent("\"type\":\"deal\",\"replay\":false,\"deal\":" + InDealJson(true));
        }
      else if(report && changed)
         QueueEvent("\"type\":\"order\",\"replay\":false,\"order\":" + OrderJson("placed"));
     }
   for(int k = ArraySize(g_known) - 1; k >= 0; k--)
     {
      bool still = false;
      for(int i = 0; i < ArraySize(open) && !still; i++)
         still = open[i] == g_known[k];
      if(still)
         continue;
      if(report && OrderSelect(g_known[k], SELECT_BY_TICKET, MODE_HISTORY))
        {
         if(OrderType() <= OP_SELL)
            QueueEvent("\"type\":\"deal\",\"replay\":false,\"deal\":" + OutDealJson(true));
         else
           {
            bool expired = OrderExpiration() > 0 && OrderExpiration() <= OrderCloseTime();
            QueueEvent("\"type\":\"order\",\"replay\":false,\"order\":" + OrderJson(expired ? "expired" : "cancelled"));
           }
        }
      int last = ArraySize(g_known) - 1;  // forget k: the last one takes its place
      g_known[k] = g_known[last];
      g_known_type[k] = g_known_type[last];
      g_known_price[k] = g_known_price[last];
      g_known_sl[k] = g_known_sl[last];
      g_known_tp[k] = g_known_tp[last];
      ArrayResize(g_known, last);
      ArrayResize(g_known_type, last);
      ArrayResize(g_known_price, last);
      ArrayResize(g_known_sl, last);
      ArrayResize(g_known_tp, last);
     }
  }

//+------------------------------------------------------------------+
//| The hello's account fields                                       |
//+------------------------------------------------------------------+
string HelloAccount()
  {
   long last = 0, last_ms = 0;
   string rows[];
   long times[], tickets[];
   CollectDeals(0, 0, rows, times, tickets);
   if(ArraySize(tickets) > 0)
     {
      last = tickets[ArraySize(tickets) - 1];
      last_ms = times[ArraySize(times) - 1];
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
                 ",\"tick_size\":" + JNum(tick) + ",\"digits\":" + JInt(SymbolInfoInteger(name, SYMBOL_DIGITS)) +
                 ",\"contract_size\":" + JNum(SymbolInfoDouble(name, SYMBOL_TRADE_CONTRACT_SIZE)) + "}";
     }
   bool allowed = IsTradeAllowed() && IsExpertEnabled();
   return "\"platform\":\"mt4\",\"login\":" + JInt(AccountInfoInteger(ACCOUNT_LOGIN)) +
          ",\"server\":" + JStr(AccountInfoString(ACCOUNT_SERVER)) +
          ",\"company\":" + JStr(AccountInfoString(ACCOUNT_COMPANY)) +
          ",\"currency\":" + JStr(AccountInfoString(ACCOUNT_CURRENCY)) + ",\"mode\":\"hedging\"" +
          ",\"trade_allowed\":" + JBool(allowed) + ",\"time_ms\":" + JInt((long)TimeCurrent() * 1000) +
          ",\"last_deal\":" + JInt(last) + ",\"last_deal_ms\":" + JInt(last_ms) + ",\"symbols\":[" + symbols + "]";
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
   return Result(false, 10013, "unknown op " + op);
  }

// MT4's last error as the MT5 retcode copytui reads
long Retcode(const int err)
  {
   switch(err)
     {
      case ERR_NO_ERROR:             return 10009;
      case ERR_REQUOTE:              return 10004;
      case ERR_PRICE_CHANGED:        return 10020;
      case ERR_OFF_QUOTES:           return 10021;
      case ERR_INVALID_PRICE:        return 10015;
      case ERR_INVALID_STOPS:        return 10016;
      case ERR_INVALID_TRADE_VOLUME: return 10014;
      case ERR_MARKET_CLOSED:        return 10018;
      case ERR_TRADE_DISABLED:       return 10017;
      case ERR_NOT_ENOUGH_MONEY:     return 10019;
      case ERR_TRADE_TIMEOUT:        return 10012;  // unknown: copytui asks before anything is sent again
      case ERR_NO_RESULT:            return 10011;
      case ERR_COMMON_ERROR:         return 10011;
      case ERR_NO_CONNECTION:        return 10031;
      case ERR_TOO_MANY_REQUESTS:    return 10024;
      case ERR_TOO_FREQUENT_REQUESTS: return 10024;
      case ERR_INVALID_TICKET:       return 10035;
      case ERR_TRADE_NOT_ALLOWED:    return 10027;
     }
   return 10006;  // refused (busy, not allowed, ...): nothing was done
  }

// GetLastError() clears the error: read it once
string Failed() { return FailedWith(GetLastError()); }
string FailedWith(const int err) { return Result(false, Retcode(err), "MT4 error " + IntegerToString(err)); }

string Made(const string made, const long first)
  {
   return ",\"order\":" + JInt(first) + ",\"orders\":[" + made + "]";
  }

bool CloseTicket(const int ticket, const double lots, const int slippage)
  {
   if(!OrderSelect(ticket, SELECT_BY_TICKET, MODE_TRADES))
      return false;
   double price = OrderType() == OP_BUY ? MarketInfo(OrderSymbol(), MODE_BID) : MarketInfo(OrderSymbol(), MODE_ASK);
   return OrderClose(ticket, lots, price, slippage);
  }

string DoPlace()
  {
   string symbol = Get("symbol"), kind = Get("kind"), comment = Get("comment");
   bool buy = Get("side") == "buy";
   double left = GetDouble("volume");
   int magic = (int)GetLong("magic"), slippage = (int)GetLong("deviation");
   string made = "";
   long first = 0;
   if(kind == "stop_limit")
      return Result(false, 10013, "MT4 has no stop-limit orders") + Made("", 0);
   if(GetBool("reduce_first") && kind == "market")
     {
      int tickets[];  // the opposite tickets of the symbol, oldest first, closed before anything opens
      for(int i = 0; i < OrdersTotal(); i++)
         if(OrderSelect(i, SELECT_BY_POS, MODE_TRADES) && OrderSymbol() == symbol && OrderType() == (buy ? OP_SELL : OP_BUY))
           {
            ArrayResize(tickets, ArraySize(tickets) + 1);
            tickets[ArraySize(tickets) - 1] = OrderTicket();
           }
      ArraySort(tickets);
      for(int i = 0; i < ArraySize(tickets) && left > 1e-9; i++)
        {
         if(!OrderSelect(tickets[i], SELECT_BY_TICKET, MODE_TRADES))
            continue;
         double take = MathMin(left, OrderLots());
         if(!CloseTicket(tickets[i], take, slippage))
            return Failed() + Made(made, first);
         long id = (long)tickets[i] + CLOSE_ID;
         made += (made == "" ? "" : ",") + JInt(id);
         first = first == 0 ? id : first;
         left = NormalizeDouble(left - take, 8);
        }
     }
   if(left > 1e-9)
     {
      int cmd = buy ? OP_BUY : OP_SELL;
      double price = buy ? MarketInfo(symbol, MODE_ASK) : MarketInfo(symbol, MODE_BID);
      if(kind == "limit")
        {
         cmd = buy ? OP_BUYLIMIT : OP_SELLLIMIT;
         price = GetDouble("price");
        }
      else if(kind == "stop")
        {
         cmd = buy ? OP_BUYSTOP : OP_SELLSTOP;
         price = GetDouble("stop");
        }
      int ticket = OrderSend(symbol, cmd, left, price, slippage, GetDouble("sl"), GetDouble("tp"), comment, magic, 0, clrNONE);
      if(ticket < 0)
         return Failed() + Made(made, first);
      made += (made == "" ? "" : ",") + JInt(ticket);
      first = first == 0 ? ticket : first;
     }
   return Result(true, kind == "market" ? 10009 : 10008, "") + Made(made, first);
  }

string DoModify()
  {
   int ticket = (int)GetLong("ticket");
   if(!OrderSelect(ticket, SELECT_BY_TICKET, MODE_TRADES) || OrderType() <= OP_SELL)
      return Result(false, 10035, "no working order #" + IntegerToString(ticket));
   double price = OrderType() <= OP_SELLLIMIT ? GetDouble("price") : GetDouble("stop");
   if(price <= 0)
      price = OrderOpenPrice();
   if(!OrderModify(ticket, price, GetDouble("sl"), GetDouble("tp"), OrderExpiration(), clrNONE))
     {
      int err = GetLastError();
      return err == ERR_NO_RESULT ? Result(true, 10025, "no changes") : FailedWith(err);
     }
   return Result(true, 10009, "");
  }

string DoCancel()
  {
   if(!OrderDelete((int)GetLong("ticket"), clrNONE))
      return Failed();
   return Result(true, 10009, "");
  }

string DoClose()
  {
   int ticket = (int)GetLong("position");
   if(!OrderSelect(ticket, SELECT_BY_TICKET, MODE_TRADES) || OrderType() > OP_SELL)
      return Result(false, 10036, "no position #" + IntegerToString(ticket));
   double lots = GetDouble("volume") > 0 ? GetDouble("volume") : OrderLots();
   if(!CloseTicket(ticket, lots, (int)GetLong("deviation")))
      return Failed();
   long id = (long)ticket + CLOSE_ID;
   return Result(true, 10009, "") + Made(JInt(id), id);
  }

string DoSlTp()
  {
   int ticket = (int)GetLong("position");
   if(!OrderSelect(ticket, SELECT_BY_TICKET, MODE_TRADES) || OrderType() > OP_SELL)
      return Result(false, 10036, "no position #" + IntegerToString(ticket));
   if(!OrderModify(ticket, OrderOpenPrice(), GetDouble("sl"), GetDouble("tp"), 0, clrNONE))
      return Failed();
   return Result(true, 10009, "");
  }

string DoFlatten()
  {
   string symbol = Get("symbol");
   int slippage = (int)GetLong("deviation");
   for(int i = OrdersTotal() - 1; i >= 0; i--)
     {
      if(!OrderSelect(i, SELECT_BY_POS, MODE_TRADES) || (symbol != "" && OrderSymbol() != symbol))
         continue;
      bool ok = OrderType() <= OP_SELL ? CloseTicket(OrderTicket(), OrderLots(), slippage) : OrderDelete(OrderTicket(), clrNONE);
      if(!ok)
         return Failed();
     }
   return Result(true, 10009, "");
  }

string DoPositions()
  {
   string symbol = Get("symbol"), rows = "";
   for(int i = 0; i < OrdersTotal(); i++)
     {
      if(!OrderSelect(i, SELECT_BY_POS, MODE_TRADES) || OrderType() > OP_SELL || (symbol != "" && OrderSymbol() != symbol))
         continue;
      rows += (rows == "" ? "" : ",") + "{\"ticket\":" + JInt(OrderTicket()) + ",\"symbol\":" + JStr(OrderSymbol()) +
              ",\"side\":\"" + (OrderType() == OP_BUY ? "buy" : "sell") + "\",\"volume\":" + JNum(OrderLots()) +
              ",\"price\":" + JNum(OrderOpenPrice()) + ",\"sl\":" + JNum(OrderStopLoss()) + ",\"tp\":" + JNum(OrderTakeProfit()) +
              ",\"profit\":" + JNum(OrderProfit()) + ",\"magic\":" + JInt(OrderMagicNumber()) +
              ",\"comment\":" + JStr(OrderComment()) + ",\"time_ms\":" + JInt((long)OrderOpenTime() * 1000) + "}";
     }
   return Result(true, 10009, "") + ",\"positions\":[" + rows + "]";
  }

string DoOrders()
  {
   string symbol = Get("symbol"), rows = "";
   for(int i = 0; i < OrdersTotal(); i++)
      if(OrderSelect(i, SELECT_BY_POS, MODE_TRADES) && OrderType() > OP_SELL && (symbol == "" || OrderSymbol() == symbol))
         rows += (rows == "" ? "" : ",") + OrderJson("placed");
   return Result(true, 10009, "") + ",\"pending\":[" + rows + "]";
  }

string DoFind()
  {
   string comment = Get("comment"), rows = "";
   int magic = (int)GetLong("magic");
   datetime since = (datetime)(GetLong("since_ms") / 1000);
   for(int pool = 0; pool < 2; pool++)
     {
      int total = pool == 0 ? OrdersTotal() : OrdersHistoryTotal();
      for(int i = 0; i < total; i++)
        {
         if(!OrderSelect(i, SELECT_BY_POS, pool == 0 ? MODE_TRADES : MODE_HISTORY) || OrderOpenTime() < since)
            continue;
         if(!((comment != "" && OrderComment() == comment) || (magic != 0 && OrderMagicNumber() == magic)))
            continue;
         string state = OrderType() <= OP_SELL ? "filled" : (pool == 0 ? "placed" : "cancelled");
         rows += (rows == "" ? "" : ",") + OrderJson(state);
        }
     }
   return Result(true, 10009, "") + ",\"found\":[" + rows + "]";
  }

string DoDeals()
  {
   string rows[];
   long times[], tickets[];
   CollectDeals(GetLong("after_ms"), GetLong("after_ticket"), rows, times, tickets);
   int limit = (int)GetLong("limit"), count = (int)MathMin(ArraySize(rows), limit);
   string out = "";
   for(int i = 0; i < count; i++)
      out += (i > 0 ? "," : "") + rows[i];
   return Result(true, 10009, "") + ",\"deals\":[" + out + "],\"more\":" + JBool(ArraySize(rows) > count);
  }

// every deal after (after_ms, after_ticket), from the open tickets and the history, in (time, ticket) order
void CollectDeals(const long after_ms, const long after_ticket, string &rows[], long &times[], long &tickets[])
  {
   ArrayResize(rows, 0);
   ArrayResize(times, 0);
   ArrayResize(tickets, 0);
   datetime since = TimeCurrent() - LookbackDays * 86400;
   for(int pool = 0; pool < 2; pool++)
     {
      int total = pool == 0 ? OrdersTotal() : OrdersHistoryTotal();
      for(int i = 0; i < total; i++)
        {
         if(!OrderSelect(i, SELECT_BY_POS, pool == 0 ? MODE_TRADES : MODE_HISTORY) || OrderType() > OP_SELL)
            continue;
         if(OrderOpenTime() >= since && StringFind(OrderComment(), "from #") != 0)
            AddDeal((long)OrderOpenTime() * 1000, OrderTicket(), InDealJson(false), after_ms, after_ticket, rows, times, tickets);
         if(pool == 1 && OrderCloseTime() >= since)
            AddDeal((long)OrderCloseTime() * 1000, (long)OrderTicket() + CLOSE_ID, OutDealJson(false), after_ms, after_ticket,
                    rows, times, tickets);
        }
     }
  }

void AddDeal(const long ms, const long ticket, const string row, const long after_ms, const long after_ticket,
             string &rows[], long &times[], long &tickets[])
  {
   if(ms < after_ms || (ms == after_ms && ticket <= after_ticket))
      return;
   int n = ArraySize(rows), j = n;
   ArrayResize(rows, n + 1);
   ArrayResize(times, n + 1);
   ArrayResize(tickets, n + 1);
   while(j > 0 && (times[j - 1] > ms || (times[j - 1] == ms && tickets[j - 1] > ticket)))
     {
      rows[j] = rows[j - 1];
      times[j] = times[j - 1];
      tickets[j] = tickets[j - 1];
      j--;
     }
   rows[j] = row;
   times[j] = ms;
   tickets[j] = ticket;
  }

//+------------------------------------------------------------------+
//| Rows of the selected order (OrderSelect)                         |
//+------------------------------------------------------------------+
string OrderJson(const string state)
  {
   int type = OrderType();
   bool market = type <= OP_SELL;
   string kind = market ? "market" : (type <= OP_SELLLIMIT ? "limit" : "stop");
   double lots = OrderLots();
   return "{\"ticket\":" + JInt(OrderTicket()) + ",\"symbol\":" + JStr(OrderSymbol()) +
          ",\"side\":\"" + (type % 2 == 0 ? "buy" : "sell") + "\",\"kind\":\"" + kind + "\",\"volume\":" + JNum(lots) +
          ",\"filled\":" + JNum(market ? lots : 0) + ",\"price\":" + JNum(kind == "limit" ? OrderOpenPrice() : 0) +
          ",\"stop\":" + JNum(kind == "stop" ? OrderOpenPrice() : 0) + ",\"sl\":" + JNum(OrderStopLoss()) +
          ",\"tp\":" + JNum(OrderTakeProfit()) + ",\"avg_price\":" + JNum(market ? OrderOpenPrice() : 0) +
          ",\"magic\":" + JInt(OrderMagicNumber()) + ",\"comment\":" + JStr(OrderComment()) +
          ",\"position\":0,\"state\":\"" + state + "\",\"time_ms\":" + JInt((long)OrderOpenTime() * 1000) + ",\"reason\":\"\"}";
  }

// the net lots held in a symbol now, and the average price of the side held (as JSON fields)
string NetFields(const string symbol)
  {
   double buy = 0, sell = 0, buy_cost = 0, sell_cost = 0;
   for(int i = 0; i < OrdersTotal(); i++)
     {
      if(!OrderSelect(i, SELECT_BY_POS, MODE_TRADES) || OrderSymbol() != symbol || OrderType() > OP_SELL)
         continue;
      if(OrderType() == OP_BUY)
        {
         buy += OrderLots();
         buy_cost += OrderLots() * OrderOpenPrice();
        }
      else
        {
         sell += OrderLots();
         sell_cost += OrderLots() * OrderOpenPrice();
        }
     }
   double net = NormalizeDouble(buy - sell, 8);
   double price = net > 0 ? buy_cost / buy : (net < 0 ? sell_cost / sell : 0);
   return ",\"net\":" + JNum(net) + ",\"net_price\":" + JNum(price);
  }

string DealJson(const long ticket, const long order, const bool buy, const string entry, const double price,
                const long ms, const bool with_net)
  {
   int selected = OrderTicket();
   string symbol = OrderSymbol(), comment = OrderComment();
   double lots = OrderLots();
   int magic = OrderMagicNumber();
   string net = ",\"net\":null,\"net_price\":null";
   if(with_net)
     {
      net = NetFields(symbol);
      if(!OrderSelect(selected, SELECT_BY_TICKET))  // NetFields moved the selection
         return "";
     }
   return "{\"ticket\":" + JInt(ticket) + ",\"order\":" + JInt(order) + ",\"position\":" + JInt(selected) +
          ",\"symbol\":" + JStr(symbol) + ",\"side\":\"" + (buy ? "buy" : "sell") + "\",\"entry\":\"" + entry +
          "\",\"volume\":" + JNum(lots) + ",\"price\":" + JNum(price) + ",\"time_ms\":" + JInt(ms) +
          ",\"magic\":" + JInt(magic) + ",\"comment\":" + JStr(comment) + ",\"order_volume\":" + JNum(lots) +
          ",\"order_filled\":" + JNum(lots) + net + "}";
  }

string InDealJson(const bool with_net)
  {
   return DealJson(OrderTicket(), OrderTicket(), OrderType() == OP_BUY, "in", OrderOpenPrice(),
                   (long)OrderOpenTime() * 1000, with_net);
  }

string OutDealJson(const bool with_net)
  {
   long id = (long)OrderTicket() + CLOSE_ID;
   return DealJson(id, id, OrderType() == OP_SELL, "out", OrderClosePrice(), (long)OrderCloseTime() * 1000, with_net);
  }
//+------------------------------------------------------------------+
