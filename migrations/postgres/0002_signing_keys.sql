-- JWT signing keys. The private key is sealed by the server's key-encryption
-- key (kek_id names which), like users' master keys; the newest row signs.
CREATE TABLE signing_keys (
    kid                 TEXT PRIMARY KEY,
    algorithm           TEXT NOT NULL,
    sealed_private_key  TEXT NOT NULL,
    kek_id              TEXT NOT NULL,
    public_key          TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL
);
