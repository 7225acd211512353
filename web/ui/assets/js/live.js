// The live WebSocket of an event, kept open: when the connection drops it comes
// back by itself (with growing, jittered delays so a crowd does not reconnect
// in one burst), and each new connection starts with a fresh snapshot.

const pingEvery = 20000; // the server pings every 25 s; this catches a dead link from our side
const pongWithin = 10000;

/**
 * live connects to /api/v1/events/{id}/live. onMessage gets every message
 * (unknown types and extra fields are the caller's to ignore); onState gets
 * "connecting", "live" or "reconnecting".
 */
export function live(eventId, { onMessage, onState = () => {} }) {
  let ws = null;
  let retries = 0;
  let stopped = false;
  let retryTimer = null;
  let pingTimer = null;
  let deadTimer = null;

  const url = () => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/api/v1/events/${encodeURIComponent(eventId)}/live`;
  };

  function open() {
    clearTimeout(retryTimer);
    if (stopped) return;
    onState(retries === 0 && !ws ? "connecting" : "reconnecting");
    const sock = new WebSocket(url());
    ws = sock;
    sock.onopen = () => {
      retries = 0;
      onState("live");
      pingTimer = setInterval(() => {
        if (sock.readyState !== WebSocket.OPEN) return;
        sock.send('{"type":"ping"}');
        clearTimeout(deadTimer);
        deadTimer = setTimeout(() => drop(sock), pongWithin);
      }, pingEvery);
    };
    sock.onmessage = (e) => {
      clearTimeout(deadTimer);
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (msg && typeof msg.type === "string" && msg.type !== "pong") onMessage(msg);
    };
    sock.onclose = () => drop(sock);
  }

  // drop forgets a connection that closed or went silent and plans the next.
  function drop(sock) {
    if (sock !== ws) return;
    clearInterval(pingTimer);
    clearTimeout(deadTimer);
    sock.onclose = sock.onmessage = sock.onopen = null;
    if (sock.readyState === WebSocket.OPEN || sock.readyState === WebSocket.CONNECTING) sock.close();
    ws = null;
    if (stopped) return;
    onState("reconnecting");
    const delay = Math.min(10000, 500 * 2 ** retries) * (0.5 + Math.random());
    retries++;
    retryTimer = setTimeout(open, delay);
  }

  // Back online: try now rather than at the end of a long back-off.
  const online = () => { if (!ws) open(); };
  window.addEventListener("online", online);

  open();
  return {
    close() {
      stopped = true;
      window.removeEventListener("online", online);
      clearTimeout(retryTimer);
      if (ws) drop(ws);
    },
  };
}
