/** Bare Aedes over TLS, sockets with setNoDelay, like the embedded broker's transport. */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { Aedes } from "aedes";

export async function startBareBroker(o: { cert: string; key: string }) {
  const broker = await Aedes.createBroker({ heartbeatInterval: 60_000, connectTimeout: 10_000 });
  const server = tls.createServer({ cert: o.cert, key: o.key, handshakeTimeout: 10_000 }, (socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => {});
    broker.handle(socket);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.close();
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}
