package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/model"
)

// Tunables of RedisPresence.
const (
	// presenceTTL is how long a record lives without a refresh: the
	// instances' heartbeat (Config.PresenceInterval, 10 s) renews it well
	// before, and the records of a killed instance stop counting within it.
	presenceTTL = 30 * time.Second
	// presenceKeep is how many TTLs an instance's list of users, and a
	// user's set of records, outlive their last refresh, waiting for a live
	// instance to reap them.
	presenceKeep = 10
	// presenceBatch is how many users one pipeline carries.
	presenceBatch = 512
	// presenceReapMax is how many dead instances one Reap handles.
	presenceReapMax = 16
)

// RedisPresence is a Presence shared by every instance through Redis. Each
// user has a sorted set of the instances where they are connected, scored
// by when that record expires (Unix ms): the user is online while any
// score is in the future. Each instance refreshes its records through
// Join; Redis drops a user's set some minutes after every record in it has
// expired, once it has surely been reaped.
// Besides, each instance lists its users in a set, and its own expiry in a
// sorted set of instances, so that once it stops refreshing, a live
// instance's Reap removes its records and announces who went offline.
//
// Keys, under prefix: presence:user:<user id>, presence:instance:<instance
// id>, presence:instances. Expiry times come from each instance's clock,
// so the instances' clocks must agree to within a few seconds.
type RedisPresence struct {
	client   redis.UniversalClient
	prefix   string
	instance string
	log      *slog.Logger
	ttl      time.Duration // presenceTTL; shorter in tests
}

var _ Presence = (*RedisPresence)(nil)

// NewRedisPresence returns a Presence that keeps its records in Redis
// through client, under keys starting with prefix (PARLEY_REDIS_PREFIX).
// instanceID names this process and must be unique to it among the
// instances sharing Redis, a new one each start (e.g. crypto/rand.Text()).
// The caller keeps ownership of client. RedisPresence starts no
// goroutines: the Hub calls it.
func NewRedisPresence(client redis.UniversalClient, prefix, instanceID string, logger *slog.Logger) *RedisPresence {
	return &RedisPresence{client: client, prefix: prefix, instance: instanceID, log: logger, ttl: presenceTTL}
}

// joinScript records an instance in a user's presence and reports whether
// the user had no live record before. KEYS[1]: the user's sorted set.
// ARGV: the instance id, now and the record's expiry (Unix ms), and how
// long the set outlives its last record (ms): long enough for a dead
// instance's records to be reaped, and announced, rather than vanish.
var joinScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]) + tonumber(ARGV[4]))
if before == 0 then return 1 end
return 0
`)

// leaveScript removes an instance, and any expired record, from a user's
// presence and reports whether that removed the user's last record.
// KEYS[1]: the user's sorted set. ARGV: the instance id and now (Unix ms).
var leaveScript = redis.NewScript(`
local removed = redis.call('ZREM', KEYS[1], ARGV[1]) + redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if removed > 0 and redis.call('ZCARD', KEYS[1]) == 0 then return 1 end
return 0
`)

func (p *RedisPresence) userKey(user model.UserID) string {
	return p.prefix + "presence:user:" + strconv.FormatInt(int64(user), 10)
}

func (p *RedisPresence) instanceKey(instance string) string {
	return p.prefix + "presence:instance:" + instance
}

func (p *RedisPresence) instancesKey() string { return p.prefix + "presence:instances" }

func unixMs(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// Online reports which of users have a live record, in one round trip.
func (p *RedisPresence) Online(ctx context.Context, users []model.UserID) (map[model.UserID]bool, error) {
	online := make(map[model.UserID]bool, len(users))
	if len(users) == 0 {
		return online, nil
	}
	now := "(" + unixMs(time.Now())
	pipe := p.client.Pipeline()
	cmds := make([]*redis.IntCmd, len(users))
	for i, u := range users {
		cmds[i] = pipe.ZCount(ctx, p.userKey(u), now, "+inf")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("presence online: %w", err)
	}
	for i, u := range users {
		online[u] = cmds[i].Val() > 0
	}
	return online, nil
}

// Join records users on this instance for the TTL and renews this
// instance's heartbeat, in one round trip per 512 users.
func (p *RedisPresence) Join(ctx context.Context, users []model.UserID) ([]model.UserID, error) {
	now := time.Now()
	nowMs, expMs := unixMs(now), unixMs(now.Add(p.ttl))
	keepMs := (presenceKeep * p.ttl).Milliseconds()
	var came []model.UserID
	for start := 0; start == 0 || start < len(users); start += presenceBatch {
		batch := users[start:min(start+presenceBatch, len(users))]
		cmds, err := p.exec(ctx, func(pipe redis.Pipeliner) []*redis.Cmd {
			if start == 0 {
				pipe.ZAdd(ctx, p.instancesKey(), redis.Z{Score: float64(now.Add(p.ttl).UnixMilli()), Member: p.instance})
			}
			if len(batch) > 0 {
				pipe.SAdd(ctx, p.instanceKey(p.instance), userMembers(batch)...)
			}
			pipe.PExpire(ctx, p.instanceKey(p.instance), presenceKeep*p.ttl)
			cmds := make([]*redis.Cmd, len(batch))
			for i, u := range batch {
				cmds[i] = joinScript.EvalSha(ctx, pipe, []string{p.userKey(u)}, p.instance, nowMs, expMs, keepMs)
			}
			return cmds
		})
		if err != nil {
			return came, fmt.Errorf("presence join: %w", err)
		}
		came = appendChanged(came, batch, cmds)
	}
	return came, nil
}

// Leave removes users' records of this instance, in one round trip per
// 512 users.
func (p *RedisPresence) Leave(ctx context.Context, users []model.UserID) ([]model.UserID, error) {
	gone, err := p.leave(ctx, p.instance, users, false)
	if err != nil {
		return gone, fmt.Errorf("presence leave: %w", err)
	}
	return gone, nil
}

// leave removes instance's records of users and, once done, its list of
// users if drop is set.
func (p *RedisPresence) leave(ctx context.Context, instance string, users []model.UserID, drop bool) ([]model.UserID, error) {
	nowMs := unixMs(time.Now())
	var gone []model.UserID
	for start := 0; start < len(users) || (drop && start == 0); start += presenceBatch {
		batch := users[start:min(start+presenceBatch, len(users))]
		last := start+presenceBatch >= len(users)
		cmds, err := p.exec(ctx, func(pipe redis.Pipeliner) []*redis.Cmd {
			cmds := make([]*redis.Cmd, len(batch))
			for i, u := range batch {
				cmds[i] = leaveScript.EvalSha(ctx, pipe, []string{p.userKey(u)}, instance, nowMs)
			}
			switch {
			case drop && last:
				pipe.Del(ctx, p.instanceKey(instance))
			case !drop && len(batch) > 0:
				pipe.SRem(ctx, p.instanceKey(instance), userMembers(batch)...)
			}
			return cmds
		})
		if err != nil {
			return gone, err
		}
		gone = appendChanged(gone, batch, cmds)
	}
	return gone, nil
}

// Reap removes the records of up to 16 instances whose heartbeat has
// expired. An instance is reaped by whichever caller removes it from the
// list of instances first; if that caller fails halfway, the records left
// expire by themselves, unannounced.
func (p *RedisPresence) Reap(ctx context.Context) ([]model.UserID, error) {
	dead, err := p.client.ZRangeByScore(ctx, p.instancesKey(), &redis.ZRangeBy{
		Min: "-inf", Max: unixMs(time.Now()), Count: presenceReapMax,
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("presence reap: %w", err)
	}
	var gone []model.UserID
	for _, instance := range dead {
		if instance == p.instance {
			continue // late with our own heartbeat: the next Join renews it
		}
		n, err := p.client.ZRem(ctx, p.instancesKey(), instance).Result()
		if err != nil {
			return gone, fmt.Errorf("presence reap: %w", err)
		}
		if n == 0 {
			continue // another instance is reaping it
		}
		members, err := p.client.SMembers(ctx, p.instanceKey(instance)).Result()
		if err != nil {
			return gone, fmt.Errorf("presence reap: %w", err)
		}
		users := make([]model.UserID, 0, len(members))
		for _, m := range members {
			if id, err := strconv.ParseInt(m, 10, 64); err == nil {
				users = append(users, model.UserID(id))
			}
		}
		offline, err := p.leave(ctx, instance, users, true)
		gone = append(gone, offline...)
		if err != nil {
			return gone, fmt.Errorf("presence reap: %w", err)
		}
		p.log.Info("presence reaped a dead instance", "instance", instance, "users", len(users), "offline", len(offline))
	}
	return gone, nil
}

// exec runs the pipeline that build fills. If Redis has forgotten the
// scripts (it restarted), none of them ran: exec loads them and runs the
// pipeline again, which is safe because every other command in it is
// idempotent. build returns the script commands, whose errors exec reports.
func (p *RedisPresence) exec(ctx context.Context, build func(redis.Pipeliner) []*redis.Cmd) ([]*redis.Cmd, error) {
	for attempt := 0; ; attempt++ {
		pipe := p.client.Pipeline()
		cmds := build(pipe)
		_, err := pipe.Exec(ctx)
		if err == nil {
			return cmds, nil
		}
		if attempt > 0 || !noScript(cmds) {
			return nil, err
		}
		for _, s := range []*redis.Script{joinScript, leaveScript} {
			if err := s.Load(ctx, p.client).Err(); err != nil {
				return nil, fmt.Errorf("load script: %w", err)
			}
		}
	}
}

func noScript(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// appendChanged appends the users whose script returned 1.
func appendChanged(to []model.UserID, users []model.UserID, cmds []*redis.Cmd) []model.UserID {
	for i, c := range cmds {
		if n, err := c.Int(); err == nil && n == 1 {
			to = append(to, users[i])
		}
	}
	return to
}

func userMembers(users []model.UserID) []any {
	m := make([]any, len(users))
	for i, u := range users {
		m[i] = strconv.FormatInt(int64(u), 10)
	}
	return m
}
