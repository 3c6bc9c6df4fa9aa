package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown/print"
	"go.uber.org/zap"
)

// debounce is how long the watcher waits after the last file event before
// reloading: an editor's save or a Kubernetes ConfigMap swap is several events.
const debounce = 200 * time.Millisecond

// prepared is one loaded, compiled and prepared revision of the policies.
// It is immutable and swapped as a whole.
type prepared struct {
	revision string
	query    rego.PreparedEvalQuery
	files    []string
	// shape is the part of the input the modules and the query read.
	shape *inputShape
	// cache remembers decisions by that part of the input; nil when the
	// policies are not cacheable or the cache is off.
	cache *decisionCache
}

// evaluator holds the prepared query for a set of policy paths and reloads
// it; Engine and Query share it.
type evaluator struct {
	paths     []string
	bundle    *BundleConfig // policy.bundle (bundle.go); nil: none
	poller    *bundlePoller // policy.bundle.url (bundle_poll.go); nil: none
	query     string
	cacheSize int // decisions remembered per revision; 0: none
	logger    *zap.Logger

	mu      sync.Mutex // one reload at a time
	cur     atomic.Pointer[prepared]
	watcher *watcher
}

func newEvaluator(ctx context.Context, paths []string, bundle *BundleConfig, query string, watch bool, cacheSize int, logger *zap.Logger) (*evaluator, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if len(paths) == 0 && bundle == nil {
		return nil, errors.New("policy: no policy paths")
	}
	ev := &evaluator{paths: append([]string(nil), paths...), bundle: bundle, query: query, cacheSize: cacheSize, logger: logger}
	if bundle != nil && bundle.URL != "" {
		ev.poller = newBundlePoller(bundle, logger)
		ev.poller.first(ctx)
	}
	p, err := ev.prepare(ctx)
	if err != nil {
		return nil, err
	}
	ev.cur.Store(p)
	if ev.poller != nil {
		go ev.poller.run(func(ctx context.Context) error { _, err := ev.reload(ctx); return err })
	}
	logger.Info("policies loaded", zap.String("revision", p.revision), zap.Int("files", len(p.files)), zap.String("query", query))
	if watch {
		// The watcher's reloads outlive any request: they get their own context.
		w, err := startWatcher(ev.paths, debounce, logger, func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := ev.reload(ctx); err != nil {
				logger.Error("policy reload failed; the previous revision stays in force",
					zap.String("revision", ev.cur.Load().revision), zap.Error(err))
			}
		})
		if err != nil {
			return nil, err
		}
		ev.watcher = w
	}
	return ev, nil
}

func (ev *evaluator) prepare(ctx context.Context) (*prepared, error) {
	b, err := loadSources(ev.paths, ev.bundle, false)
	if err != nil {
		return nil, err
	}
	c, err := compileBundle(ctx, b)
	if err != nil {
		return nil, err
	}
	r := rego.New(
		rego.Query(ev.query),
		rego.Compiler(c.compiler),
		rego.Store(c.store),
		rego.EnablePrintStatements(true),
		rego.PrintHook(printHook{logger: ev.logger}),
	)
	pq, err := r.PrepareForEval(ctx)
	if err != nil {
		var astErrs ast.Errors
		if errors.As(err, &astErrs) {
			return nil, problemsFromAST(err)
		}
		return nil, fmt.Errorf("policy: preparing %s: %w", ev.query, err)
	}
	if ref, err := ast.ParseRef(ev.query); err == nil && ref.HasPrefix(ast.DefaultRootRef) {
		if len(c.compiler.GetRulesForVirtualDocument(ref)) == 0 && len(c.compiler.GetRulesWithPrefix(ref)) == 0 {
			ev.logger.Warn("no rule defines the policy query: every evaluation is undefined",
				zap.String("query", ev.query), zap.String("revision", b.revision))
		}
	}
	p := &prepared{revision: b.revision, query: pq, files: b.files, shape: fullShape}
	if body, err := ast.ParseBody(ev.query); err == nil {
		p.shape = shapeOf(c.compiler, body)
	}
	if ev.cacheSize > 0 {
		if p.shape.cacheable() {
			p.cache = newDecisionCache(ev.cacheSize)
		} else {
			ev.logger.Info("policy decisions are not cached: the policies read the whole input, the request id or time, or call a nondeterministic builtin",
				zap.String("revision", b.revision))
		}
	}
	return p, nil
}

// reload loads the files again and swaps them in if they compile; on error
// the current revision stays. It reports whether the revision changed.
func (ev *evaluator) reload(ctx context.Context) (bool, error) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	p, err := ev.prepare(ctx)
	if err != nil {
		return false, err
	}
	old := ev.cur.Swap(p)
	if old.revision == p.revision {
		ev.logger.Debug("policies unchanged", zap.String("revision", p.revision))
		return false, nil
	}
	ev.logger.Info("policies reloaded", zap.String("revision", p.revision),
		zap.String("previous_revision", old.revision), zap.Int("files", len(p.files)))
	return true, nil
}

func (ev *evaluator) close() error {
	if ev.poller != nil {
		ev.poller.close()
	}
	if ev.watcher != nil {
		return ev.watcher.close()
	}
	return nil
}

// printHook sends print() output of policies to the debug log: a policy
// author's tool, off unless debug logging is on.
type printHook struct{ logger *zap.Logger }

func (h printHook) Print(pctx print.Context, msg string) error {
	if ce := h.logger.Check(zap.DebugLevel, "policy print"); ce != nil {
		loc := ""
		if pctx.Location != nil {
			loc = fmt.Sprintf("%s:%d", pctx.Location.File, pctx.Location.Row)
		}
		ce.Write(zap.String("location", loc), zap.String("message", msg))
	}
	return nil
}

// watcher calls onChange once things are quiet after files under the
// policy paths change.
type watcher struct {
	fs       *fsnotify.Watcher
	done     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	closeErr error
}

func startWatcher(paths []string, quiet time.Duration, logger *zap.Logger, onChange func()) (*watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("policy: watching files: %w", err)
	}
	w := &watcher{fs: fsw, done: make(chan struct{})}
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			fsw.Close()
			return nil, fmt.Errorf("policy: watching %s: %w", root, err)
		}
		if !info.IsDir() {
			// Watch the directory: editors and ConfigMaps replace files by rename.
			root = filepath.Dir(root)
		}
		if err := w.addTree(root); err != nil {
			fsw.Close()
			return nil, fmt.Errorf("policy: watching %s: %w", root, err)
		}
	}
	w.wg.Add(1)
	go w.loop(quiet, logger, onChange)
	return w, nil
}

// addTree watches dir and its subdirectories (hidden ones excepted).
func (w *watcher) addTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		return w.fs.Add(path)
	})
}

func (w *watcher) loop(quiet time.Duration, logger *zap.Logger, onChange func()) {
	defer w.wg.Done()
	timer := time.NewTimer(quiet)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() && !strings.HasPrefix(filepath.Base(ev.Name), ".") {
					if err := w.addTree(ev.Name); err != nil {
						logger.Warn("policy watcher cannot watch a new directory", zap.String("dir", ev.Name), zap.Error(err))
					}
				}
			}
			timer.Reset(quiet)
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			logger.Warn("policy watcher error", zap.Error(err))
		case <-timer.C:
			onChange()
		}
	}
}

func (w *watcher) close() error {
	w.once.Do(func() {
		close(w.done)
		w.closeErr = w.fs.Close()
		w.wg.Wait()
	})
	return w.closeErr
}
