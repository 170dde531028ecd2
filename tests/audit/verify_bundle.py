#!/usr/bin/env python3
"""An independent verifier of a latchkey evidence bundle, written from the README's
rules only (not from the Rust code), to show that someone else can check a bundle.

Usage: verify_bundle.py BUNDLE_DIR AUDIT_KEY.jwk
Checks every file's SHA-256 against manifest.json, the hash chain through
chain_before.jsonl, events.jsonl and chain_after.jsonl, every checkpoint's head hash
against the chain, and (when the `cryptography` package is importable) the Ed25519
signatures of the manifest and the checkpoints. Prints a JSON summary; exit 1 on failure.
"""
import base64, hashlib, json, os, sys

def canonical(value):
    # RFC 8785 for values without fractions: sorted keys, no spaces, minimal escaping.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

def main(bundle, key_path):
    key = json.load(open(key_path))
    manifest = json.load(open(os.path.join(bundle, "manifest.json")))
    problems = []
    for f in manifest["files"]:
        digest = hashlib.sha256(open(os.path.join(bundle, f["name"]), "rb").read()).hexdigest()
        if digest != f["sha256"]:
            problems.append(f"{f['name']}: sha256 differs")
    chain = manifest["chain"]
    expected, prev = chain["start_seq"], chain["start_prev_hash"]
    hashes = {expected - 1: prev}
    count = 0
    if chain.get("period_seqs"):
        for name in ("chain_before.jsonl", "events.jsonl", "chain_after.jsonl"):
            for line in open(os.path.join(bundle, name), encoding="utf-8"):
                if not line.strip():
                    continue
                event = json.loads(line)
                stated = event.pop("hash")
                if event["seq"] != expected:
                    problems.append(f"expected event {expected}, found {event['seq']}")
                    break
                if event["prev_hash"] != prev:
                    problems.append(f"event {expected} does not follow the one before")
                    break
                if hashlib.sha256(b"latchkey.audit.v1\n" + canonical(event)).hexdigest() != stated:
                    problems.append(f"event {expected} does not match its hash")
                    break
                hashes[expected] = prev = stated
                expected += 1
                count += 1
            if problems:
                break
    for cp in manifest["checkpoints"]:
        if cp["events"] in hashes and hashes[cp["events"]] != cp["head_hash"]:
            problems.append(f"checkpoint {cp['number']} does not match event {cp['events']}")
    signatures = "not checked (no cryptography package)"
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        public = Ed25519PublicKey.from_public_bytes(b64url(key["x"]))
        body = {k: v for k, v in manifest.items() if k != "signature"}
        public.verify(b64url(manifest["signature"]), b"latchkey.manifest.v1\n" + canonical(body))
        for cp in manifest["checkpoints"]:
            signed = {k: cp[k] for k in ("number", "events", "head_hash", "at", "prev", "kid")}
            public.verify(b64url(cp["signature"]), b"latchkey.checkpoint.v1\n" + canonical(signed))
        signatures = "valid"
    except ImportError:
        pass
    except Exception as e:  # InvalidSignature
        problems.append(f"signature: {type(e).__name__}")
        signatures = "invalid"
    print(json.dumps({"ok": not problems, "events": count, "problems": problems, "signatures": signatures}))
    return 0 if not problems else 1

if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
