/**
 * The broker-secret port (docs/protocol.md §7, broker secret rotation). The transport owns
 * the identity and the connection (which secret to try, when to forget the old one); a
 * capability only hands it a new secret.
 */
export interface BrokerSecrets {
  /** Keep `password` beside the current secret, on disk (identity.json, fsynced) before returning. */
  storeNext(password: string): void;
}
