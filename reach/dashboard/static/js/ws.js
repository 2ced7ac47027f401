// A graphql-transport-ws client: connection_init carries {authorization: "Bearer ..."},
// then subscribe / next / error / complete per operation, ping answered with pong.
// On a dropped connection it reconnects with backoff and resubscribes everything, so a
// subscription's first message (the state now) brings the page up to date again.

const PROTOCOL = "graphql-transport-ws";

export class Live {
  constructor(token, { onStatus = () => {} } = {}) {
    this.token = token;
    this.onStatus = onStatus;
    this.ops = new Map();   // id -> {payload, sink}
    this.nextId = 1;
    this.socket = null;
    this.acked = false;
    this.closed = false;
    this.retry = 0;
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/graphql`;
  }

  connect() {
    const socket = new WebSocket(this.url(), PROTOCOL);
    this.socket = socket;
    this.acked = false;
    this.onStatus("connecting");
    socket.onopen = () => {
      this.send({ type: "connection_init", payload: { authorization: `Bearer ${this.token}` } });
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.acked = false;
      if (this.closed) return;
      // 4401/4403: the credentials were refused; retrying cannot help.
      if (event.code === 4401 || event.code === 4403) {
        this.onStatus("refused");
        for (const op of this.ops.values()) op.sink.error(new Error("live updates refused"));
        return;
      }
      this.onStatus("offline");
      const delay = Math.min(30000, 500 * 2 ** this.retry++);
      setTimeout(() => { if (!this.closed) this.connect(); }, delay);
    };
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  receive(raw) {
    let message;
    try { message = JSON.parse(raw); } catch { return; }
    switch (message.type) {
      case "connection_ack":
        this.acked = true;
        this.retry = 0;
        this.onStatus("live");
        for (const [id, op] of this.ops) this.send({ id, type: "subscribe", payload: op.payload });
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next": {
        const op = this.ops.get(message.id);
        if (!op) break;
        const payload = message.payload || {};
        if (payload.errors && payload.errors.length) op.sink.error(new Error(payload.errors[0].message));
        else op.sink.next(payload.data);
        break;
      }
      case "error": {
        const op = this.ops.get(message.id);
        this.ops.delete(message.id);
        const first = Array.isArray(message.payload) ? message.payload[0] : null;
        if (op) op.sink.error(new Error(first ? first.message : "subscription failed"));
        break;
      }
      case "complete":
        this.ops.delete(message.id);
        break;
    }
  }

  // sink: {next(data), error(err)}; returns a function that ends the subscription.
  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    const payload = { query, variables };
    this.ops.set(id, { payload, sink });
    if (this.acked) this.send({ id, type: "subscribe", payload });
    return () => {
      if (this.ops.delete(id) && this.acked) this.send({ id, type: "complete" });
    };
  }

  close() {
    this.closed = true;
    this.ops.clear();
    if (this.socket) this.socket.close(1000, "signed out");
  }
}
