//! The queue's state changes, each one Lua script so it happens atomically in Redis: no
//! host ever sees a job half-submitted, claimed twice at once, or finished twice.
//!
//! Every key starts with the federation's prefix, a Redis Cluster hash tag (`{cordon}`), so
//! all of them live in one slot and one script may touch any of them. Tenant and tool names
//! arrive escaped (see `keys::part`), so they cannot collide inside a key.
//!
//! Keys (`P` is the prefix):
//!
//! | key | type | what |
//! |---|---|---|
//! | `P:job:ID` | hash | a job: its spec, status, attempts, host, outcome |
//! | `P:q:PRIO:TENANT:TOOL` | stream | jobs waiting or running; group `workers` |
//! | `P:tenants:PRIO` | set | tenants that have had jobs of that priority |
//! | `P:tools:PRIO:TENANT` | set | tools those jobs call |
//! | `P:turn:PRIO` | counter | whose turn it is among the tenants |
//! | `P:depth`, `P:depth:PRIO` | hash | jobs waiting per tenant |
//! | `P:idem:TENANT:KEY` | string | the job an idempotency key names |
//! | `P:quarantine` | stream | quarantined jobs, oldest first |
//! | `P:ready`, `P:done` | channels | a job was queued; a job (its id) finished |

use redis::Script;
use std::sync::LazyLock;

/// Shared helpers, prepended to the scripts that use them.
const LIB: &str = r"
local function pending_start(p, id, entry_id, stream, me, now)
  local job = p .. ':job:' .. id
  local attempts = redis.call('HINCRBY', job, 'attempts', 1)
  redis.call('HSET', job, 'status', 'running', 'started_ms', now, 'host', me, 'entry', entry_id)
  return {id, entry_id, stream, redis.call('HGET', job, 'spec'), attempts,
          redis.call('HGET', job, 'released') or '0', redis.call('HGET', job, 'submitted_ms')}
end

local function settle(stream, entry_id)
  redis.call('XACK', stream, 'workers', entry_id)
  redis.call('XDEL', stream, entry_id)
end

local function to_quarantine(p, id)
  local job = p .. ':job:' .. id
  local q = redis.call('XADD', p .. ':quarantine', '*', 'job', id)
  redis.call('HSET', job, 'qentry', q)
end

local function enqueue(p, id, prio, tenant_key, tool_key)
  local job = p .. ':job:' .. id
  local stream = p .. ':q:' .. prio .. ':' .. tenant_key .. ':' .. tool_key
  if redis.call('EXISTS', stream) == 0 then
    redis.call('XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM')
  end
  redis.call('XADD', stream, '*', 'job', id)
  redis.call('HSET', job, 'stream', stream)
  redis.call('SADD', p .. ':tenants:' .. prio, tenant_key)
  redis.call('SADD', p .. ':tools:' .. prio .. ':' .. tenant_key, tool_key)
  redis.call('HINCRBY', p .. ':depth', tenant_key, 1)
  redis.call('HINCRBY', p .. ':depth:' .. prio, tenant_key, 1)
  redis.call('PUBLISH', p .. ':ready', prio)
end
";

fn with_lib(body: &str) -> Script {
    Script::new(&format!("{LIB}\n{body}"))
}

/// Queues a job unless its idempotency key names one already or its tenant is full.
///
/// ARGV: prefix, tenant, tenant key, tool key, priority, id, spec JSON, idempotency key
/// (or ""), limit, now (ms), ttl of a waiting job (s).
/// Returns `{id, 1}` (queued), `{existing id, 0}` (the key's job) or `{"", -1}` (full).
pub static SUBMIT: LazyLock<Script> = LazyLock::new(|| {
    with_lib(
        r"
local p, tenant, tenant_key, tool_key, prio, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local idem = ARGV[8]
local idem_key = p .. ':idem:' .. tenant_key .. ':' .. idem
if idem ~= '' then
  local existing = redis.call('GET', idem_key)
  if existing then return {existing, 0} end
end
local depth = tonumber(redis.call('HGET', p .. ':depth', tenant_key) or '0')
if depth >= tonumber(ARGV[9]) then return {'', -1} end
local job = p .. ':job:' .. id
redis.call('HSET', job, 'spec', ARGV[7], 'tenant', tenant, 'tenant_key', tenant_key,
  'tool_key', tool_key, 'priority', prio, 'status', 'queued', 'submitted_ms', ARGV[10],
  'attempts', 0)
redis.call('EXPIRE', job, ARGV[11])
if idem ~= '' then
  redis.call('SET', idem_key, id, 'EX', ARGV[11])
  redis.call('HSET', job, 'idem', idem_key)
end
enqueue(p, id, prio, tenant_key, tool_key)
return {id, 1}
",
    )
});

/// Takes the next job this host may run: high priority before normal before low; within a
/// priority, tenants in turn; within a tenant's stream, the oldest. Only streams of tools
/// the host carries are read. Streams left empty are forgotten.
///
/// ARGV: prefix, consumer (host id), now (ms), the tool keys the host carries...
/// Returns `{id, entry, stream, spec, attempts, released, submitted_ms}` or nil.
pub static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    with_lib(
        r"
local p, me, now = ARGV[1], ARGV[2], ARGV[3]
for _, prio in ipairs({'high', 'normal', 'low'}) do
  local tenants = redis.call('SMEMBERS', p .. ':tenants:' .. prio)
  local n = #tenants
  if n > 0 then
    table.sort(tenants)
    local start = redis.call('INCR', p .. ':turn:' .. prio) % n
    for k = 0, n - 1 do
      local tenant_key = tenants[((start + k) % n) + 1]
      local tools_key = p .. ':tools:' .. prio .. ':' .. tenant_key
      for i = 4, #ARGV do
        local tool_key = ARGV[i]
        if redis.call('SISMEMBER', tools_key, tool_key) == 1 then
          local stream = p .. ':q:' .. prio .. ':' .. tenant_key .. ':' .. tool_key
          local got = redis.call('XREADGROUP', 'GROUP', 'workers', me, 'COUNT', 1, 'STREAMS', stream, '>')
          if got then
            local entry = got[1][2][1]
            local id = entry[2][2]
            redis.call('HINCRBY', p .. ':depth', tenant_key, -1)
            redis.call('HINCRBY', p .. ':depth:' .. prio, tenant_key, -1)
            if redis.call('EXISTS', p .. ':job:' .. id) == 1 then
              return pending_start(p, id, entry[1], stream, me, now)
            end
            settle(stream, entry[1])
          elseif redis.call('XLEN', stream) == 0 then
            redis.call('SREM', tools_key, tool_key)
            if redis.call('SCARD', tools_key) == 0 then
              redis.call('SREM', p .. ':tenants:' .. prio, tenant_key)
            end
          end
        end
      end
    end
  end
end
return false
",
    )
});

/// Takes over jobs whose host stopped renewing them (it died, or lost Redis for longer than
/// the lease). A job started `max` times already goes to quarantine instead of running
/// again: whatever it does kills the hosts that run it.
///
/// ARGV: prefix, consumer, now (ms), min idle (ms), max attempts, quarantine error JSON,
/// the tool keys the host carries...
/// Returns a list of claimed jobs shaped as [`CLAIM`]'s answer.
pub static RECLAIM: LazyLock<Script> = LazyLock::new(|| {
    with_lib(
        r"
local p, me, now, idle, max, err = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local out = {}
for _, prio in ipairs({'high', 'normal', 'low'}) do
  for _, tenant_key in ipairs(redis.call('SMEMBERS', p .. ':tenants:' .. prio)) do
    local tools_key = p .. ':tools:' .. prio .. ':' .. tenant_key
    for i = 7, #ARGV do
      local tool_key = ARGV[i]
      if redis.call('SISMEMBER', tools_key, tool_key) == 1 then
        local stream = p .. ':q:' .. prio .. ':' .. tenant_key .. ':' .. tool_key
        local got = redis.call('XAUTOCLAIM', stream, 'workers', me, idle, '0-0', 'COUNT', 16)
        for _, entry in ipairs(got[2]) do
          local id = entry[2][2]
          local job = p .. ':job:' .. id
          local attempts = tonumber(redis.call('HGET', job, 'attempts') or '-1')
          if attempts < 0 then
            settle(stream, entry[1])
          elseif attempts >= max then
            redis.call('HSET', job, 'status', 'quarantined', 'finished_ms', now, 'outcome', err)
            settle(stream, entry[1])
            to_quarantine(p, id)
            redis.call('PUBLISH', p .. ':done', id)
          else
            table.insert(out, pending_start(p, id, entry[1], stream, me, now))
          end
        end
      end
    end
  end
end
return out
",
    )
});

/// Keeps this host's claims alive: resets the idle time of each entry it still owns (an
/// entry another host took over is left alone).
///
/// ARGV: consumer, then stream and entry id pairs. Returns how many were renewed.
pub static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local me, renewed = ARGV[1], 0
for i = 2, #ARGV, 2 do
  local stream, entry = ARGV[i], ARGV[i + 1]
  local pending = redis.call('XPENDING', stream, 'workers', entry, entry, 1)
  if pending[1] and pending[1][2] == me then
    redis.call('XCLAIM', stream, 'workers', me, 0, entry, 'JUSTID')
    renewed = renewed + 1
  end
end
return renewed
",
    )
});

/// Stores a job's outcome and only then acknowledges its entry. The first outcome stored
/// wins: a second run (its host was presumed dead but was not) changes nothing.
///
/// ARGV: prefix, id, stream, entry, status, outcome JSON, now (ms), ttl (s).
/// Returns 1 when stored, 0 when the job had already finished or was discarded.
pub static FINISH: LazyLock<Script> = LazyLock::new(|| {
    with_lib(
        r"
local p, id, stream, entry, status = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local job = p .. ':job:' .. id
local was = redis.call('HGET', job, 'status')
settle(stream, entry)
if (not was) or was == 'succeeded' or was == 'failed' or was == 'quarantined' then return 0 end
redis.call('HSET', job, 'status', status, 'finished_ms', ARGV[7], 'outcome', ARGV[6])
if status == 'quarantined' then
  to_quarantine(p, id)
else
  redis.call('EXPIRE', job, ARGV[8])
  local idem = redis.call('HGET', job, 'idem')
  if idem then redis.call('EXPIRE', idem, ARGV[8]) end
end
redis.call('PUBLISH', p .. ':done', id)
return 1
",
    )
});

/// Queues a quarantined job again, once, with its attempts reset.
///
/// ARGV: prefix, id, tenant (or "" for any), ttl of a waiting job (s). Returns 1 or 0.
pub static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    with_lib(
        r"
local p, id, tenant = ARGV[1], ARGV[2], ARGV[3]
local job = p .. ':job:' .. id
if redis.call('HGET', job, 'status') ~= 'quarantined' then return 0 end
if tenant ~= '' and redis.call('HGET', job, 'tenant') ~= tenant then return 0 end
local q = redis.call('HGET', job, 'qentry')
if q then redis.call('XDEL', p .. ':quarantine', q) end
redis.call('HDEL', job, 'qentry', 'outcome', 'started_ms', 'finished_ms', 'host', 'entry')
redis.call('HSET', job, 'status', 'queued', 'attempts', 0, 'released', '1')
redis.call('EXPIRE', job, ARGV[4])
local f = redis.call('HMGET', job, 'priority', 'tenant_key', 'tool_key')
enqueue(p, id, f[1], f[2], f[3])
return 1
",
    )
});

/// Deletes a quarantined job.
///
/// ARGV: prefix, id, tenant (or "" for any). Returns 1 or 0.
pub static DISCARD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p, id, tenant = ARGV[1], ARGV[2], ARGV[3]
local job = p .. ':job:' .. id
if redis.call('HGET', job, 'status') ~= 'quarantined' then return 0 end
if tenant ~= '' and redis.call('HGET', job, 'tenant') ~= tenant then return 0 end
local f = redis.call('HMGET', job, 'qentry', 'idem')
if f[1] then redis.call('XDEL', p .. ':quarantine', f[1]) end
if f[2] then redis.call('DEL', f[2]) end
redis.call('DEL', job)
return 1
",
    )
});
