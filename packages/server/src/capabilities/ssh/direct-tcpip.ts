/**
 * `ssh -L` (docs/protocol.md §17.6; RFC 4254 §7.2 "direct-tcpip"): each forwarded TCP
 * connection is one channel of the connection's tcp tunnel session, to the host and port the
 * client names, checked against the project's forward allow-list by the tunnel layer. A
 * refused or failed destination rejects the channel (the client prints "open failed"); remote
 * forwarding (-R) and streamlocal channels are not offered.
 */
import type { AcceptConnection, RejectConnection, ServerChannel, TcpipRequestInfo } from "ssh2";
import type { Logger } from "pino";
import type { GatewayConnection } from "./connection.js";

export function handleDirectTcpip(
  conn: GatewayConnection,
  accept: AcceptConnection<ServerChannel>,
  reject: RejectConnection,
  info: TcpipRequestInfo,
  log: Logger,
): void {
  const host = info.destIP;
  const port = info.destPort;
  conn.openForward(host, port).then(
    (tc) => {
      if (conn.closed) return void tc.destroy();
      const ch = accept();
      if (!ch) return void tc.destroy();
      // Both ways with backpressure; a half-close (EOF) is passed on; either side closing ends both.
      ch.pipe(tc);
      tc.pipe(ch);
      const end = () => {
        tc.destroy();
        ch.destroy();
      };
      ch.on("close", () => tc.destroy());
      // The destination's normal end reaches the client through pipe's end() (data first, then
      // EOF and CLOSE); only an abrupt close cuts the SSH channel at once.
      tc.on("close", () => !ch.writableEnded && ch.destroy());
      ch.on("error", end);
      tc.on("error", end);
    },
    (err: Error) => {
      log.info(
        { user: conn.user?.username, host, port, err: err.message },
        `ssh -L to ${host}:${port} refused: ${err.message}`,
      );
      reject();
    },
  );
}
