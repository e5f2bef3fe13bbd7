// In-memory storage for the dev provider.
//
// oidc-provider's bundled memory adapter is an LRU capped at 1000 entries: a session-long test
// run could silently evict a refresh token a test still holds. This one keeps everything until it
// expires, which is what a short-lived test process wants.

const grantable = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);

const entries = new Map(); // key -> { payload, expiresAt }
const byGrant = new Map(); // grantId -> Set of keys
const byUid = new Map(); // session uid -> session id
const byUserCode = new Map(); // device user_code -> device code id

function read(key) {
  const entry = entries.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    entries.delete(key);
    return undefined;
  }
  return entry.payload;
}

export default class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    entries.set(key, { payload, expiresAt });
    if (this.model === 'Session') byUid.set(payload.uid, id);
    if (payload.userCode) byUserCode.set(payload.userCode, id);
    if (grantable.has(this.model) && payload.grantId) {
      if (!byGrant.has(payload.grantId)) byGrant.set(payload.grantId, new Set());
      byGrant.get(payload.grantId).add(key);
    }
  }

  async find(id) {
    return read(this.key(id));
  }

  async findByUid(uid) {
    const id = byUid.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = byUserCode.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = read(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    entries.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of byGrant.get(grantId) ?? []) entries.delete(key);
    byGrant.delete(grantId);
  }
}
