/**
 * The sentence a user reads when the device could not reach a forward's destination
 * (docs/protocol.md §17.5: OPEN_FAIL with TETHER_ERR_FORWARD_FAILED). It names HOST:PORT and
 * says the failure happened on the device, so it is not mistaken for the local listener's.
 */
export function connectFailure(err: NodeJS.ErrnoException | "timeout", host: string, port: number): string {
  const dest = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  if (err === "timeout") return `connection to ${dest} timed out on the device`;
  switch (err.code) {
    case "ECONNREFUSED":
      return `connection to ${dest} refused on the device`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return `host ${host} not found on the device`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `${dest} is unreachable from the device`;
    case "ETIMEDOUT":
      return `connection to ${dest} timed out on the device`;
    default:
      return `connection to ${dest} failed on the device: ${err.code ?? err.message}`;
  }
}
