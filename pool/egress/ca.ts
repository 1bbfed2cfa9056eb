/**
 * A certificate authority of one sandbox's own, for the hosts its `network.secrets` attach
 * headers to: the egress proxy ends the program's TLS to such a host with a certificate this
 * CA issues for it, adds the headers, and makes its own TLS connection to the host. Every
 * other host's CONNECT passes through untouched. The CA's key never leaves this process; its
 * certificate goes into each job's trust (the agent writes it, with the image's own bundle,
 * to EGRESS_CA_PATH). Keys are ECDSA P-256, made by WebCrypto; the certificates are built by
 * @peculiar/x509, not by hand.
 */
import { webcrypto } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 3600_000;

export class EgressCa {
  readonly #keys: CryptoKeyPair;
  readonly #certificate: x509.X509Certificate;
  readonly #contexts = new Map<string, Promise<SecureContext>>();
  #serial = 1;

  private constructor(keys: CryptoKeyPair, certificate: x509.X509Certificate) {
    this.#keys = keys;
    this.#certificate = certificate;
  }

  /** A new CA, valid from a minute ago for a week (a sandbox that lives longer makes its jobs' trust anew: see README). */
  static async create(): Promise<EgressCa> {
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, false, ['sign', 'verify'])) as CryptoKeyPair;
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=warmbox egress CA',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 7 * DAY_MS),
      keys,
      signingAlgorithm: ALGORITHM,
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
    });
    return new EgressCa(keys, certificate);
  }

  /** The CA's certificate, PEM: what a job trusts. */
  get pem(): string {
    return this.#certificate.toString('pem');
  }

  /** A TLS context that presents a certificate of this CA's for `host`, made once per host. */
  contextFor(host: string): Promise<SecureContext> {
    let context = this.#contexts.get(host);
    if (context === undefined) {
      context = this.#issue(host);
      this.#contexts.set(host, context);
    }
    return context;
  }

  async #issue(host: string): Promise<SecureContext> {
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: (++this.#serial).toString(16).padStart(2, '0'),
      subject: `CN=${host}`,
      issuer: this.#certificate.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 7 * DAY_MS),
      publicKey: keys.publicKey,
      signingKey: this.#keys.privateKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: host }]),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.BasicConstraintsExtension(false),
      ],
    });
    const key = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
    return createSecureContext({
      key: `-----BEGIN PRIVATE KEY-----\n${key.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`,
      cert: `${leaf.toString('pem')}\n${this.pem}`,
    });
  }
}
