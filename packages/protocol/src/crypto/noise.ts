// Generic Noise Protocol Framework engine (revision 34) for Noise_*_25519_AESGCM_SHA256.
// Implements CipherState / SymmetricState / HandshakeState (spec §5) for the
// fundamental one-way and interactive patterns without PSKs (spec §7.4, §7.5).
// Tether uses KK (docs/protocol.md §4); the others exist so the whole
// cacophony vector set can check this engine.
import { createCipheriv, createDecipheriv, createHash, createHmac } from "node:crypto";
import { generateX25519, x25519, type KeyPair } from "./keys.js";

export const DHLEN = 32;
export const HASHLEN = 32;
export const TAGLEN = 16;
const MAX_NONCE = (1n << 64n) - 1n;

export class NoiseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NoiseError";
  }
}

// ---------------------------------------------------------------- primitives (§12.4, §12.5)

/** AESGCM nonce: 32 bits of zeros followed by the big-endian 64-bit n. */
export function aesGcmNonce(n: bigint): Buffer {
  const b = Buffer.alloc(12);
  b.writeBigUInt64BE(n, 4);
  return b;
}

export function aesGcmEncrypt(k: Buffer, n: bigint, ad: Buffer, plaintext: Buffer): Buffer {
  const c = createCipheriv("aes-256-gcm", k, aesGcmNonce(n), { authTagLength: TAGLEN });
  c.setAAD(ad);
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

/** Throws NoiseError on authentication failure or a ciphertext shorter than the tag. */
export function aesGcmDecrypt(k: Buffer, n: bigint, ad: Buffer, ciphertext: Buffer): Buffer {
  if (ciphertext.length < TAGLEN) throw new NoiseError("ciphertext too short");
  try {
    const d = createDecipheriv("aes-256-gcm", k, aesGcmNonce(n), { authTagLength: TAGLEN });
    d.setAAD(ad);
    d.setAuthTag(ciphertext.subarray(ciphertext.length - TAGLEN));
    return Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - TAGLEN)), d.final()]);
  } catch {
    throw new NoiseError("decryption failed");
  }
}

function hash(...parts: Buffer[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

function hmac(key: Buffer, ...parts: Buffer[]): Buffer {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Noise HKDF (§4.3): returns [output1, output2, output3]. */
export function noiseHkdf(ck: Buffer, ikm: Buffer): [Buffer, Buffer, Buffer] {
  const temp = hmac(ck, ikm);
  const o1 = hmac(temp, Buffer.from([1]));
  const o2 = hmac(temp, o1, Buffer.from([2]));
  const o3 = hmac(temp, o2, Buffer.from([3]));
  return [o1, o2, o3];
}

// ---------------------------------------------------------------- CipherState (§5.1)

export class CipherState {
  private k: Buffer | null = null;
  n = 0n;

  constructor(k?: Buffer | null) {
    if (k) this.initializeKey(k);
  }

  initializeKey(k: Buffer | null): void {
    this.k = k ? Buffer.from(k) : null;
    this.n = 0n;
  }

  hasKey(): boolean {
    return this.k !== null;
  }

  /** The raw 32-byte key (Tether's transport frames use it with explicit nonces). */
  get key(): Buffer | null {
    return this.k ? Buffer.from(this.k) : null;
  }

  setNonce(n: bigint): void {
    this.n = n;
  }

  encryptWithAd(ad: Buffer, plaintext: Buffer): Buffer {
    if (!this.k) return Buffer.from(plaintext);
    if (this.n >= MAX_NONCE) throw new NoiseError("nonce exhausted");
    const out = aesGcmEncrypt(this.k, this.n, ad, plaintext);
    this.n++;
    return out;
  }

  decryptWithAd(ad: Buffer, ciphertext: Buffer): Buffer {
    if (!this.k) return Buffer.from(ciphertext);
    if (this.n >= MAX_NONCE) throw new NoiseError("nonce exhausted");
    const out = aesGcmDecrypt(this.k, this.n, ad, ciphertext);
    this.n++;
    return out;
  }

  /** REKEY (§4.2 default): k = first 32 bytes of ENCRYPT(k, maxnonce, zerolen, zeros). */
  rekey(): void {
    if (!this.k) return;
    this.k = aesGcmEncrypt(this.k, MAX_NONCE, Buffer.alloc(0), Buffer.alloc(32)).subarray(0, 32);
  }
}

// ---------------------------------------------------------------- SymmetricState (§5.2)

export class SymmetricState {
  ck: Buffer;
  h: Buffer;
  readonly cs = new CipherState();

  constructor(protocolName: string) {
    const name = Buffer.from(protocolName, "ascii");
    this.h = name.length <= HASHLEN ? Buffer.concat([name, Buffer.alloc(HASHLEN - name.length)]) : hash(name);
    this.ck = Buffer.from(this.h);
  }

  mixKey(ikm: Buffer): void {
    const [ck, tempK] = noiseHkdf(this.ck, ikm);
    this.ck = ck;
    this.cs.initializeKey(tempK);
  }

  mixHash(data: Buffer): void {
    this.h = hash(this.h, data);
  }

  getHandshakeHash(): Buffer {
    return Buffer.from(this.h);
  }

  encryptAndHash(plaintext: Buffer): Buffer {
    const ct = this.cs.encryptWithAd(this.h, plaintext);
    this.mixHash(ct);
    return ct;
  }

  decryptAndHash(ciphertext: Buffer): Buffer {
    const pt = this.cs.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return pt;
  }

  split(): [CipherState, CipherState] {
    const [k1, k2] = noiseHkdf(this.ck, Buffer.alloc(0));
    return [new CipherState(k1), new CipherState(k2)];
  }
}

// ---------------------------------------------------------------- patterns (§7)

export type Token = "e" | "s" | "ee" | "es" | "se" | "ss";
export interface HandshakePattern {
  readonly name: string;
  readonly initiatorPre: readonly ("e" | "s")[];
  readonly responderPre: readonly ("e" | "s")[];
  /** Message token lists; message i is sent by the initiator when i is even. */
  readonly messages: readonly (readonly Token[])[];
}

function p(name: string, iPre: ("e" | "s")[], rPre: ("e" | "s")[], messages: Token[][]): HandshakePattern {
  return { name, initiatorPre: iPre, responderPre: rPre, messages };
}

export const PATTERNS: Readonly<Record<string, HandshakePattern>> = {
  // one-way (§7.4)
  N: p("N", [], ["s"], [["e", "es"]]),
  K: p("K", ["s"], ["s"], [["e", "es", "ss"]]),
  X: p("X", [], ["s"], [["e", "es", "s", "ss"]]),
  // interactive (§7.5)
  NN: p("NN", [], [], [["e"], ["e", "ee"]]),
  NK: p(
    "NK",
    [],
    ["s"],
    [
      ["e", "es"],
      ["e", "ee"],
    ],
  ),
  NX: p("NX", [], [], [["e"], ["e", "ee", "s", "es"]]),
  KN: p("KN", ["s"], [], [["e"], ["e", "ee", "se"]]),
  KK: p(
    "KK",
    ["s"],
    ["s"],
    [
      ["e", "es", "ss"],
      ["e", "ee", "se"],
    ],
  ),
  KX: p("KX", ["s"], [], [["e"], ["e", "ee", "se", "s", "es"]]),
  XN: p("XN", [], [], [["e"], ["e", "ee"], ["s", "se"]]),
  XK: p(
    "XK",
    [],
    ["s"],
    [
      ["e", "es"],
      ["e", "ee"],
      ["s", "se"],
    ],
  ),
  XX: p("XX", [], [], [["e"], ["e", "ee", "s", "es"], ["s", "se"]]),
  IN: p(
    "IN",
    [],
    [],
    [
      ["e", "s"],
      ["e", "ee", "se"],
    ],
  ),
  IK: p(
    "IK",
    [],
    ["s"],
    [
      ["e", "es", "s", "ss"],
      ["e", "ee", "se"],
    ],
  ),
  IX: p(
    "IX",
    [],
    [],
    [
      ["e", "s"],
      ["e", "ee", "se", "s", "es"],
    ],
  ),
};

export function isOneWayPattern(pattern: HandshakePattern): boolean {
  return pattern.messages.length === 1;
}

// ---------------------------------------------------------------- HandshakeState (§5.3)

export interface HandshakeOptions {
  /** Pattern name (key of PATTERNS) or a pattern definition. */
  pattern: string | HandshakePattern;
  initiator: boolean;
  prologue?: Buffer;
  /** Local static X25519 keypair. */
  s?: KeyPair;
  /** Local ephemeral keypair; injected only for test vectors, otherwise generated. */
  e?: KeyPair;
  /** Remote static public key (pre-message or known in advance). */
  rs?: Buffer;
  /** Remote ephemeral public key (pre-message patterns only). */
  re?: Buffer;
}

export class HandshakeState {
  readonly pattern: HandshakePattern;
  readonly initiator: boolean;
  readonly protocolName: string;
  private ss: SymmetricState;
  private s: KeyPair | null;
  private e: KeyPair | null;
  private rs: Buffer | null;
  private re: Buffer | null;
  private msgIndex = 0;

  constructor(o: HandshakeOptions) {
    const pattern = typeof o.pattern === "string" ? PATTERNS[o.pattern] : o.pattern;
    if (!pattern) throw new NoiseError(`unsupported handshake pattern ${String(o.pattern)}`);
    this.pattern = pattern;
    this.initiator = o.initiator;
    this.protocolName = `Noise_${pattern.name}_25519_AESGCM_SHA256`;
    this.ss = new SymmetricState(this.protocolName);
    this.s = o.s ?? null;
    this.e = o.e ?? null;
    this.rs = o.rs ? Buffer.from(o.rs) : null;
    this.re = o.re ? Buffer.from(o.re) : null;
    this.ss.mixHash(o.prologue ?? Buffer.alloc(0));

    const pre = (tokens: readonly ("e" | "s")[], local: boolean): void => {
      for (const t of tokens) {
        const key = t === "s" ? (local ? this.s?.publicKey : this.rs) : local ? this.e?.publicKey : this.re;
        if (!key) throw new NoiseError(`missing pre-message key ${t}`);
        this.ss.mixHash(key);
      }
    };
    pre(pattern.initiatorPre, this.initiator);
    pre(pattern.responderPre, !this.initiator);
  }

  get isComplete(): boolean {
    return this.msgIndex >= this.pattern.messages.length;
  }

  /** True if the next handshake message is ours to write. */
  get isMyTurn(): boolean {
    return !this.isComplete && (this.msgIndex % 2 === 0) === this.initiator;
  }

  get remoteStatic(): Buffer | null {
    return this.rs ? Buffer.from(this.rs) : null;
  }

  getHandshakeHash(): Buffer {
    return this.ss.getHandshakeHash();
  }

  private dh(token: "ee" | "es" | "se" | "ss"): Buffer {
    // es: initiator's e with responder's s; se: initiator's s with responder's e.
    let local: KeyPair | null;
    let remote: Buffer | null;
    switch (token) {
      case "ee":
        [local, remote] = [this.e, this.re];
        break;
      case "ss":
        [local, remote] = [this.s, this.rs];
        break;
      case "es":
        [local, remote] = this.initiator ? [this.e, this.rs] : [this.s, this.re];
        break;
      case "se":
        [local, remote] = this.initiator ? [this.s, this.re] : [this.e, this.rs];
        break;
    }
    if (!local || !remote) throw new NoiseError(`missing key for ${token}`);
    return x25519(local.privateKey, remote);
  }

  writeMessage(payload: Buffer = Buffer.alloc(0)): Buffer {
    if (!this.isMyTurn) throw new NoiseError("not our turn to write");
    const out: Buffer[] = [];
    for (const t of this.pattern.messages[this.msgIndex]!) {
      if (t === "e") {
        if (!this.e) this.e = generateX25519();
        out.push(this.e.publicKey);
        this.ss.mixHash(this.e.publicKey);
      } else if (t === "s") {
        if (!this.s) throw new NoiseError("missing local static key");
        out.push(this.ss.encryptAndHash(this.s.publicKey));
      } else {
        this.ss.mixKey(this.dh(t));
      }
    }
    out.push(this.ss.encryptAndHash(payload));
    this.msgIndex++;
    return Buffer.concat(out);
  }

  /**
   * Processes a handshake message and returns its payload. Transactional: if the message
   * fails (short, bad MAC, bad key), the state is left as it was, so a forged message
   * cannot wreck a handshake in progress.
   */
  readMessage(message: Buffer): Buffer {
    if (this.isComplete || this.isMyTurn) throw new NoiseError("not expecting a message");
    const saved = {
      ck: this.ss.ck,
      h: this.ss.h,
      k: this.ss.cs.key,
      n: this.ss.cs.n,
      rs: this.rs,
      re: this.re,
    };
    try {
      let off = 0;
      const take = (len: number): Buffer => {
        if (message.length - off < len) throw new NoiseError("handshake message too short");
        const b = message.subarray(off, off + len);
        off += len;
        return b;
      };
      for (const t of this.pattern.messages[this.msgIndex]!) {
        if (t === "e") {
          this.re = Buffer.from(take(DHLEN));
          this.ss.mixHash(this.re);
        } else if (t === "s") {
          const len = this.ss.cs.hasKey() ? DHLEN + TAGLEN : DHLEN;
          this.rs = this.ss.decryptAndHash(take(len));
        } else {
          this.ss.mixKey(this.dh(t));
        }
      }
      const payload = this.ss.decryptAndHash(message.subarray(off));
      this.msgIndex++;
      return payload;
    } catch (err) {
      this.ss.ck = saved.ck;
      this.ss.h = saved.h;
      this.ss.cs.initializeKey(saved.k);
      this.ss.cs.n = saved.n;
      this.rs = saved.rs;
      this.re = saved.re;
      throw err instanceof NoiseError ? err : new NoiseError(`handshake failed: ${(err as Error).message}`);
    }
  }

  /** Split() (§5.2): [c1, c2]; the initiator sends with c1, the responder with c2. */
  split(): [CipherState, CipherState] {
    if (!this.isComplete) throw new NoiseError("handshake not complete");
    return this.ss.split();
  }
}
