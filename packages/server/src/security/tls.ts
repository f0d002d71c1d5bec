/**
 * The server's own CA and certificate, made on first start unless --tls-cert/--tls-key are
 * given. ECDSA P-256 via WebCrypto and @peculiar/x509. The leaf is re-issued when the set
 * of names it must cover changes (e.g. a new --public-url); the CA is kept.
 */
import { webcrypto } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { isIP } from "node:net";
import { join } from "node:path";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as any);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export interface TlsMaterial {
  cert: string;
  key: string;
  /** PEM of the CA clients should trust (the CA itself, or the given cert when self-managed). */
  ca: string;
  caPath: string;
}

function pemKey(der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n");
  return `-----BEGIN PRIVATE KEY-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<webcrypto.CryptoKey> {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return webcrypto.subtle.importKey("pkcs8", Buffer.from(b64, "base64"), ALG, true, [
    "sign",
  ]) as Promise<webcrypto.CryptoKey>;
}

export async function loadOrCreateTls(
  dataDir: string,
  names: string[],
  given?: { cert: string; key: string },
): Promise<TlsMaterial> {
  if (given) {
    const cert = readFileSync(given.cert, "utf8");
    return { cert, key: readFileSync(given.key, "utf8"), ca: cert, caPath: given.cert };
  }
  const caPath = join(dataDir, "ca.pem");
  const caKeyPath = join(dataDir, "ca-key.pem");
  let caPem: string;
  let caKey: webcrypto.CryptoKey;
  if (existsSync(caPath) && existsSync(caKeyPath)) {
    caPem = readFileSync(caPath, "utf8");
    caKey = await importKey(readFileSync(caKeyPath, "utf8"));
  } else {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, [
      "sign",
      "verify",
    ])) as webcrypto.CryptoKeyPair;
    const notBefore = new Date(Date.now() - 24 * 3600e3);
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: webcrypto
        .getRandomValues(new Uint8Array(8))
        .reduce((s, b) => s + b.toString(16).padStart(2, "0"), "01"),
      name: `CN=Tether CA ${hostname()}`,
      notBefore,
      notAfter: new Date(notBefore.getTime() + 20 * 365 * 24 * 3600e3),
      keys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    caPem = `${ca.toString("pem").trim()}\n`;
    caKey = keys.privateKey;
    writeFileSync(caKeyPath, pemKey(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)), {
      mode: 0o600,
    });
    writeFileSync(caPath, caPem, { mode: 0o644 });
  }
  const certPath = join(dataDir, "server-cert.pem");
  const keyPath = join(dataDir, "server-key.pem");
  const namesPath = join(dataDir, "server-cert.names");
  const wanted = [...new Set(["localhost", "127.0.0.1", "::1", hostname(), ...names])].sort();
  if (
    existsSync(certPath) &&
    existsSync(keyPath) &&
    existsSync(namesPath) &&
    readFileSync(namesPath, "utf8") === wanted.join(",")
  ) {
    return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8"), ca: caPem, caPath };
  }
  const ca = new x509.X509Certificate(caPem);
  const leafKeys = (await webcrypto.subtle.generateKey(ALG, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const notBefore = new Date(Date.now() - 24 * 3600e3);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: webcrypto
      .getRandomValues(new Uint8Array(8))
      .reduce((s, b) => s + b.toString(16).padStart(2, "0"), "02"),
    subject: "CN=tether-server",
    issuer: ca.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + 5 * 365 * 24 * 3600e3),
    signingKey: caKey,
    publicKey: leafKeys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        wanted.map((n) => (isIP(n) ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n })),
      ),
    ],
  });
  const cert = `${leaf.toString("pem").trim()}\n${caPem.trim()}\n`;
  const key = pemKey(await webcrypto.subtle.exportKey("pkcs8", leafKeys.privateKey));
  writeFileSync(certPath, cert, { mode: 0o644 });
  writeFileSync(keyPath, key, { mode: 0o600 });
  writeFileSync(namesPath, wanted.join(","));
  return { cert, key, ca: caPem, caPath };
}
