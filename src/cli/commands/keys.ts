// `courier keys generate`: a new Ed25519 key pair for Standard Webhooks' asymmetric signatures, as
// JSON ({"secret":"whsk_…","public":"whpk_…"}): the secret goes into a destination's `secrets`
// (through the environment or a secret file), the public key to its receiver.
// `courier keys public --destination ID`: the public keys of that destination's `whsk_` secrets,
// one per line (JSON: {"destination","public":[…]}), what its receiver verifies `v1a` with.
import type { CourierConfig } from '../../config/schema.ts';
import {
  ED25519_SECRET_PREFIX,
  ed25519SecretProblem,
  generateEd25519Pair,
  publicKeyOf,
} from '../../net/signer.ts';
import { printJson } from '../flags.ts';

export function keysGenerate(): number {
  printJson(generateEd25519Pair());
  return 0;
}

export function keysPublic(config: CourierConfig, destination: string, json: boolean): number {
  const d = config.destinations.find((x) => x.id === destination);
  const secrets = (d?.secrets ?? []).filter((s) => s.startsWith(ED25519_SECRET_PREFIX));
  if (secrets.length === 0) {
    console.error(
      `courier: ${destination} has no Ed25519 secret (whsk_…): its requests carry HMAC signatures only (v1), verified with the shared secret`,
    );
    return 1;
  }
  for (const s of secrets) {
    const problem = ed25519SecretProblem(s);
    if (problem)
      console.error(
        `courier: warning: a whsk_ secret of ${destination}: ${problem}; signing uses its first 32 bytes`,
      );
  }
  const keys = secrets.map(publicKeyOf);
  if (json) printJson({ destination, public: keys });
  else for (const k of keys) console.log(k);
  return 0;
}
