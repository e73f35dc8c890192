package chaos

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is one child process the run started: it can be stopped (SIGTERM then, past a
// grace period, SIGKILL), killed (SIGKILL) and started again with the same command,
// environment and log file. An exit nobody asked for is reported and, while the run
// is supervising, the process is started again.
type proc struct {
	name string
	path string
	args []string
	env  []string
	log  *os.File
	out  io.Writer // progress lines

	mu         sync.Mutex
	cmd        *exec.Cmd
	done       chan struct{}
	stopping   bool // an exit we asked for
	supervised bool // restart after an unexpected exit
	closed     bool // the run is over: never start again
	unexpected int
	starts     int
}

func newProc(name, path string, args, env []string, logPath string, out io.Writer) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &proc{name: name, path: path, args: args, env: env, log: f, out: out}, nil
}

// start starts the process; it is a no-op when it already runs.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startLocked()
}

func (p *proc) startLocked() error {
	if p.closed {
		return fmt.Errorf("%s: the run is over", p.name)
	}
	if p.cmd != nil {
		return nil
	}
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = sysProcAttr()
	p.starts++
	fmt.Fprintf(p.log, "\n=== chaos: start #%d at %s ===\n", p.starts, time.Now().UTC().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.stopping = cmd, done, false
	go p.wait(cmd, done)
	return nil
}

func (p *proc) wait(cmd *exec.Cmd, done chan struct{}) {
	err := cmd.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	close(done)
	if p.cmd != cmd {
		return
	}
	p.cmd = nil
	if p.stopping || p.closed {
		return
	}
	p.unexpected++
	fmt.Fprintf(p.out, "chaos: %s exited on its own (%v); see %s\n", p.name, err, p.log.Name())
	if p.supervised {
		go func() {
			time.Sleep(time.Second)
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.cmd == nil && !p.closed {
				if err := p.startLocked(); err != nil {
					fmt.Fprintf(p.out, "chaos: restart %s: %v\n", p.name, err)
				}
			}
		}()
	}
}

// signal sends sig and waits for the exit; past grace it kills the process.
func (p *proc) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil {
		p.mu.Unlock()
		return
	}
	p.stopping = true
	_ = cmd.Process.Signal(sig)
	p.mu.Unlock()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// stop ends the process gracefully (SIGTERM, SIGKILL after grace).
func (p *proc) stop(grace time.Duration) { p.signal(syscall.SIGTERM, grace) }

// kill ends the process at once (SIGKILL).
func (p *proc) kill() { p.signal(syscall.SIGKILL, 10*time.Second) }

// setSupervised turns the restart of unexpected exits on or off.
func (p *proc) setSupervised(on bool) {
	p.mu.Lock()
	p.supervised = on
	p.mu.Unlock()
}

// close stops the process for good and closes its log.
func (p *proc) close(grace time.Duration) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.stop(grace)
	p.log.Close()
}

// running reports whether the process runs.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

func (p *proc) unexpectedExits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unexpected
}
