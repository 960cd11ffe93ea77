package server

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/janhq/jan/internal/responses"
	"github.com/janhq/jan/internal/store"
)

// What a run needs to survive a bad day: its answer is checkpointed while it
// streams, so a crash keeps it; runs a dead process left in progress are
// finished (RecoverRuns); and the final write of an answer is retried while
// the database is unavailable, so "completed" is said only once it is true.

// Durability tunes checkpoints, recovery and final-write retries; zero
// fields get defaults.
type Durability struct {
	// Instance names this process for the runs it owns: the same name after
	// a restart means the runs it left in progress are dead (default:
	// host name and process id; Run uses the host and listen address).
	Instance string
	// Checkpoint is how often a streaming run's answer so far is saved, at
	// most (default 1s): one small write per second per stream.
	Checkpoint time.Duration
	// StaleAfter is how long a run may go without a checkpoint before any
	// process takes it for an orphan (default 60s); a quiet run still says
	// it is alive every StaleAfter/4.
	StaleAfter time.Duration
	// FinalWriteRetry is how long the final write of an answer is retried
	// while the database is unavailable (default 30s).
	FinalWriteRetry time.Duration
}

func (d Durability) withDefaults() Durability {
	d.Checkpoint = orDefault(d.Checkpoint, time.Second)
	d.StaleAfter = orDefault(d.StaleAfter, time.Minute)
	d.FinalWriteRetry = orDefault(d.FinalWriteRetry, 30*time.Second)
	return d
}

// Recover finishes the runs and responses left in progress by a process
// that is gone: this instance's own (it is starting again) when mine is
// true, and any whose heartbeat is stale. It returns how many it finished.
func (s *Server) Recover(ctx context.Context, mine bool) (int, error) {
	owner := ""
	if mine {
		owner = s.durability.Instance
	}
	stale := time.Now().Add(-s.durability.StaleAfter)
	runs, err := s.store.RecoverRuns(ctx, owner, stale)
	for _, r := range runs {
		s.log.Warn("run interrupted: its server stopped before it finished; kept its answer so far",
			"run", r.ID, "conversation", r.ConversationID, "kept_message", r.MessageID != "")
	}
	if err != nil {
		return len(runs), err
	}
	resps, err := s.store.RecoverResponses(ctx, owner, stale)
	for _, r := range resps {
		s.log.Warn("response interrupted: its server stopped before it finished; kept its output so far", "response", r.ID)
		if eerr := s.endRecoveredStream(ctx, &r); eerr != nil {
			s.log.Warn("end the stream of a recovered response", "response", r.ID, "err", eerr)
		}
	}
	return len(runs) + len(resps), err
}

// endRecoveredStream stores the terminal event of a recovered background
// response, so that its stream, read again, ends as the response did.
func (s *Server) endRecoveredStream(ctx context.Context, r *store.Response) error {
	var p responses.Params
	if json.Unmarshal(r.Params, &p) != nil || !p.Background {
		return nil
	}
	evs, err := s.store.ResponseEvents(ctx, r.UserID, r.ID, -1)
	if err != nil {
		return err
	}
	o, err := s.storedObject(ctx, r)
	if err != nil {
		return err
	}
	seq := 0
	if len(evs) > 0 {
		seq = evs[len(evs)-1].Seq + 1
	}
	end := responses.Terminal(seq, responses.EventIncomplete, marshal(o))
	return s.store.AppendResponseEvents(ctx, r.ID, storeEvents([]responses.Event{end}))
}

// SweepRuns recovers stale runs and responses of other processes every
// StaleAfter/2 until ctx ends.
func (s *Server) SweepRuns(ctx context.Context) {
	t := time.NewTicker(s.durability.StaleAfter / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.Recover(ctx, false); err != nil && ctx.Err() == nil {
			s.log.Warn("recover runs", "err", err)
		}
	}
}

// persist runs the final write of an answer, retrying while the database
// is unavailable for up to FinalWriteRetry (a stream's keepalives hold its
// client meanwhile). The client leaving does not stop it.
func (s *Server) persist(ctx context.Context, write func(context.Context) error) error {
	ctx = context.WithoutCancel(ctx)
	deadline := time.Now().Add(s.durability.FinalWriteRetry)
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := write(ctx)
		if err == nil || !errors.Is(err, store.ErrUnavailable) || time.Now().Add(wait).After(deadline) {
			if err == nil && attempt > 1 {
				logFrom(ctx).Info("final write succeeded after the database came back", "attempts", attempt)
			}
			return err
		}
		if attempt == 1 {
			logFrom(ctx).Warn("database unavailable at a final write; retrying", "err", err, "for", s.durability.FinalWriteRetry)
		}
		time.Sleep(wait)
		wait = min(2*wait, 2*time.Second)
	}
}

// checkpointer saves a streaming answer so far (a run's text, a response's
// output items) with write: when it changed, at most every Checkpoint; when
// it did not, every StaleAfter/4 as a heartbeat. Writes happen on a timer,
// off the stream's path, one at a time.
type checkpointer struct {
	s         *Server
	write     func(ctx context.Context, partial string) error
	mu        sync.Mutex
	content   string // the answer so far, as the stream last reported it
	saved     int    // len of the content last written (answers only grow)
	lastWrite time.Time
	stopped   bool
	timer     *time.Timer
	writing   sync.Mutex // held during a write; stop waits for it
}

func (s *Server) checkpoints(write func(ctx context.Context, partial string) error) *checkpointer {
	c := &checkpointer{s: s, write: write, lastWrite: time.Now()}
	c.mu.Lock()
	c.timer = time.AfterFunc(s.durability.Checkpoint, c.tick)
	c.mu.Unlock()
	return c
}

// update records the answer so far; called for every chunk, it costs a lock
// (the content only grows: its length tells whether it changed).
func (c *checkpointer) update(content string) {
	c.mu.Lock()
	c.content = content
	c.mu.Unlock()
}

func (c *checkpointer) tick() {
	c.writing.Lock()
	defer c.writing.Unlock()
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	content := c.content
	due := len(content) != c.saved || time.Since(c.lastWrite) >= c.s.durability.StaleAfter/4
	c.mu.Unlock()
	if due {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.write(ctx, content)
		cancel()
		c.mu.Lock()
		if err == nil {
			c.saved, c.lastWrite = len(content), time.Now()
		}
		c.mu.Unlock()
		if err != nil {
			c.s.log.Warn("checkpoint", "err", err)
		}
	}
	c.mu.Lock()
	if !c.stopped {
		c.timer.Reset(c.s.durability.Checkpoint)
	}
	c.mu.Unlock()
}

// stop ends the checkpoints and waits for a write in flight.
func (c *checkpointer) stop() {
	c.mu.Lock()
	c.stopped = true
	c.timer.Stop()
	c.mu.Unlock()
	c.writing.Lock()
	//lint:ignore SA2001 the lock is taken only to wait for a write in flight
	c.writing.Unlock()
}
