// One gateway connection per tab. HELLO → IDENTIFY {} (the session cookie authenticates a
// same-origin socket) → heartbeats; on a drop, reconnect with backoff and RESUME from the
// last sequence so nothing published meanwhile is lost. Listeners get (t, d) per DISPATCH.
// sendMessage() is the socket's send door (op 40, answered by op 41 with the same nonce): the
// composer uses it while the socket is up, and POSTs with the same nonce when it is not.

const OP = { DISPATCH: 0, HEARTBEAT: 1, IDENTIFY: 2, PRESENCE_UPDATE: 3, RESUME: 6, INVALID_SESSION: 9, HELLO: 10, ACK: 11, SEND_MESSAGE: 40, SEND_RESULT: 41 };
const ANSWER_WITHIN_MS = 10000;

export class Gateway {
  constructor(url) {
    this.url = url;
    this.listeners = new Set();
    this.stateListeners = new Set();
    this.seq = null;
    this.sessionId = null;
    this.attempt = 0;
    this.timer = null;
    this.socket = null;
    this.pendingStatus = null;
    this.answers = new Map(); // nonce → { resolve, reject, timer }: sends awaiting op 41
  }

  on(listener) {
    this.listeners.add(listener);
  }

  onState(listener) {
    this.stateListeners.add(listener);
  }

  setState(state) {
    this.state = state;
    this.stateListeners.forEach((fn) => fn(state));
  }

  connect() {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      clearInterval(this.timer);
      // Whatever was sent on this socket and not answered goes again by the other door (same
      // nonce, so never twice).
      this.answers.forEach((waiting) => waiting.reject(new Error("the connection dropped")));
      this.answers.clear();
      this.setState("reconnecting");
      const delay = Math.min(1000 * 2 ** this.attempt, 15000) * (0.7 + Math.random() * 0.6);
      this.attempt += 1;
      setTimeout(() => this.connect(), delay);
    });
  }

  send(op, d) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ op, d }));
  }

  isOpen() {
    return this.state === "connected" && Boolean(this.socket) && this.socket.readyState === WebSocket.OPEN;
  }

  // Resolves with op 41's payload ({message} or {status, error}); rejects when the socket is
  // not up, drops, or does not answer in time.
  sendMessage(d) {
    return new Promise((resolve, reject) => {
      if (!this.isOpen()) {
        reject(new Error("not connected"));
        return;
      }
      const timer = setTimeout(() => {
        this.answers.delete(d.nonce);
        reject(new Error("no answer"));
      }, ANSWER_WITHIN_MS);
      const settle = (fn) => (value) => {
        clearTimeout(timer);
        this.answers.delete(d.nonce);
        fn(value);
      };
      this.answers.set(d.nonce, { resolve: settle(resolve), reject: settle(reject) });
      this.send(OP.SEND_MESSAGE, d);
    });
  }

  receive(frame) {
    if (frame.s) this.seq = frame.s;
    switch (frame.op) {
      case OP.HELLO:
        clearInterval(this.timer);
        this.timer = setInterval(() => this.send(OP.HEARTBEAT, this.seq), frame.d.heartbeat_interval);
        if (this.sessionId) this.send(OP.RESUME, { session_id: this.sessionId, seq: this.seq });
        else this.send(OP.IDENTIFY, {});
        break;
      case OP.INVALID_SESSION:
        this.sessionId = null;
        this.seq = null;
        this.send(OP.IDENTIFY, {});
        this.resynced = true;
        break;
      case OP.SEND_RESULT: {
        const waiting = frame.d && this.answers.get(frame.d.nonce);
        if (waiting) waiting.resolve(frame.d);
        break;
      }
      case OP.DISPATCH:
        if (frame.t === "READY" || frame.t === "RESUMED") {
          if (frame.t === "READY") this.sessionId = frame.d.session_id;
          this.attempt = 0;
          const wasDown = this.state === "reconnecting";
          this.setState("connected");
          if (this.pendingStatus) this.setStatus(this.pendingStatus);
          // A fresh session (not a resume) after a drop may have missed events: resync.
          if (frame.t === "READY" && wasDown) this.emit("RESYNC", {});
        }
        this.emit(frame.t, frame.d);
        break;
      default:
        break;
    }
  }

  emit(t, d) {
    this.listeners.forEach((fn) => {
      try {
        fn(t, d);
      } catch (error) {
        console.error("gateway listener failed", t, error);
      }
    });
  }

  setStatus(status) {
    this.pendingStatus = status;
    this.send(OP.PRESENCE_UPDATE, { status, since: null, activities: [], afk: false });
  }
}

let shared = null;

export function gateway() {
  if (!shared) {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    shared = new Gateway(`${scheme}://${window.location.host}/gateway`);
  }
  return shared;
}
