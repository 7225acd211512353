package queue

// The line's keys in Redis. All keys of an event share the hash tag ev:{<event>},
// and each script is given exactly the keys it touches (see the KEYS line at the
// top of each .lua file), so every script is atomic on a Redis Cluster too:
//
//	ev:{E}:q        hash: state (lobby, shuffling, open), tail (places handed out),
//	                adm (admission counter), lobby_n, seed, commit, bucket, bucket_t
//	ev:{E}:lobby    hash join id -> user, of fans who came before the opening
//	ev:{E}:join     hash user -> join id
//	ev:{E}:num      hash user -> place number
//	ev:{E}:who      hash place number -> user
//	ev:{E}:gone     set of users whose place is used up (left, dropped, done)
//	ev:{E}:seen     ZSET user -> last sign of life ms
//	ev:{E}:pending  ZSET user -> claim deadline ms: admitted, not yet claimed
//	ev:{E}:active   ZSET user -> session expiry ms: shopping now (see ActiveKey)
//	ev:{E}:sess     hash user -> "session id|expiry ms"
//	ev:{E}:samples  list of "ms:admission counter", one a second over the last minute
//	ev:{E}:shuffle  the lock of the replica numbering the lobby
type keys struct {
	q, lobby, join, num, who, gone, seen, pending, active, sess, samples, shuffle string
}

func keysOf(eventID string) keys {
	p := "ev:{" + eventID + "}:"
	return keys{
		q: p + "q", lobby: p + "lobby", join: p + "join", num: p + "num", who: p + "who", gone: p + "gone",
		seen: p + "seen", pending: p + "pending", active: ActiveKey(eventID), sess: p + "sess",
		samples: p + "samples", shuffle: p + "shuffle",
	}
}

// ActiveKey names the event's ZSET of shopping sessions (user -> expiry in Unix
// ms). The line writes it; inventory's hold scripts read it, so that only a fan
// shopping now can hold tickets.
func ActiveKey(eventID string) string { return "ev:{" + eventID + "}:active" }

// The keys of each script, in the order of its KEYS line.

func (k keys) forJoin() []string {
	return []string{k.q, k.lobby, k.join, k.num, k.who, k.gone, k.seen}
}

func (k keys) forStatus() []string {
	return []string{k.q, k.join, k.num, k.gone, k.seen, k.pending, k.active, k.sess, k.samples}
}

func (k keys) forLeave() []string {
	return []string{k.q, k.lobby, k.join, k.gone, k.pending, k.active, k.sess}
}

func (k keys) forAdmit() []string {
	return []string{k.q, k.lobby, k.who, k.gone, k.seen, k.pending, k.active, k.sess, k.samples}
}

func (k keys) forNumber() []string { return []string{k.q, k.num, k.who} }
