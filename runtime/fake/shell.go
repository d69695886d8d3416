package fake

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/wharf-dev/wharf/runtime/spec"
	"github.com/wharf-dev/wharf/runtime/task"
)

// The programs a fake container runs: a shell and a few applets, as a
// busybox image has them. Each is found in the container's root
// filesystem (or what is mounted into it) by its path or through PATH,
// as an exec finds it, and run by the name it was found under.
//
//	sh, ash, bash, dash   "-c SCRIPT", or no argument: commands read from
//	                      stdin, one line at a time
//	busybox APPLET ARGS   the applet
//	cat [FILE...]         files, or stdin to its end
//	sleep N|infinity      N seconds (fractions allowed)
//	echo [-n] ARGS, true, false, env, hostname, pwd, stty size
//
// The shell runs lists of commands separated by ";", newlines, "&&",
// "||" and "&" (in the background), with '...' and "..." quoting, $VAR,
// ${VAR}, $? and $$, the redirections >FILE, >>FILE, 2>FILE, >&2, 2>&1
// and >/dev/null, "#" comments, VAR=value, and the builtins echo, exit,
// true, false, :, read, trap 'CMDS' SIGNAL..., wait, exec and pwd.
// Anything else is "not found" (127), as in a shell whose PATH lacks it.

// program is what a process runs, found in the container.
type program struct {
	args []string
	// forwarded: the program runs under the container's forwarding
	// init (--init), so signals reach it with their default actions.
	forwarded bool
}

// shells and applets are the programs the fake runs.
var (
	shells  = map[string]bool{"sh": true, "ash": true, "bash": true, "dash": true}
	applets = map[string]bool{"cat": true, "sleep": true, "echo": true, "true": true, "false": true,
		"env": true, "hostname": true, "pwd": true, "stty": true, "busybox": true}
)

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// resolve finds the program args names in the container, as a runtime
// does before it execs it: a missing file is a *task.StartError with
// code 127, one the fake cannot run 126.
func (c *ctr) resolve(args, env []string) (program, error) {
	prog := program{args: args}
	if args[0] == spec.InitMountPath {
		if _, err := c.lookPath(args[0], env); err != nil {
			return prog, err
		}
		if len(args) < 3 || args[1] != "--" {
			return prog, &task.StartError{Msg: "fake runtime: the init runs a command after --", ExitCode: 126}
		}
		prog.args, prog.forwarded = args[2:], true
	}
	name, err := c.lookPath(prog.args[0], env)
	if err != nil {
		return prog, err
	}
	if !shells[name] && !applets[name] {
		return prog, &task.StartError{Msg: fmt.Sprintf("exec: %q: exec format error (the fake runtime cannot run it)", prog.args[0]), ExitCode: 126}
	}
	return prog, nil
}

// lookPath finds file in the container and returns the name it runs as.
func (c *ctr) lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		if !c.isFile(file) {
			return "", &task.StartError{Msg: fmt.Sprintf("exec: %q: stat %s: no such file or directory", file, file), ExitCode: 127}
		}
		return path.Base(file), nil
	}
	p := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			p = v
		}
	}
	for _, dir := range filepath.SplitList(p) {
		if dir != "" && c.isFile(path.Join(dir, file)) {
			return file, nil
		}
	}
	return "", &task.StartError{Msg: fmt.Sprintf("exec: %q: executable file not found in $PATH", file), ExitCode: 127}
}

func (c *ctr) isFile(p string) bool {
	hp, err := c.hostPath(p)
	if err != nil {
		return false
	}
	fi, err := os.Stat(hp)
	return err == nil && !fi.IsDir()
}

// hostPath is where the container's path p is on the host: under the bind
// mount whose destination holds it, or in the root filesystem. Symlinks
// resolve inside the one or the other.
func (c *ctr) hostPath(p string) (string, error) {
	p = path.Clean("/" + p)
	best := -1
	for i, m := range c.spec.Mounts {
		d := path.Clean(m.Destination)
		if m.Type != "bind" && m.Type != "tmpfs" {
			continue
		}
		if (p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/")) && (best < 0 || len(d) > len(c.spec.Mounts[best].Destination)) {
			best = i
		}
	}
	if best < 0 {
		return securejoin.SecureJoin(c.rootfs, p)
	}
	m := c.spec.Mounts[best]
	src := m.Source
	if m.Type == "tmpfs" {
		src = c.tmpfs[m.Destination]
	}
	rest := strings.TrimPrefix(p, path.Clean(m.Destination))
	if rest == "" {
		return src, nil
	}
	return securejoin.SecureJoin(src, rest)
}

// exitStatus unwinds a shell that runs `exit`.
type exitStatus struct{ code int }

func (e exitStatus) Error() string { return "exit " + strconv.Itoa(e.code) }

// shell is a running program of a fake process.
type shell struct {
	p    *proc
	c    *ctr
	vars map[string]string
	keys []string // the environment's order
	cwd  string
	in   *bufio.Reader
	out  io.Writer
	err  io.Writer
	// term is the process's terminal size, if it has a terminal.
	term   func() ([2]uint16, bool)
	status int
	jobs   []chan struct{}
	onExit *string
}

// runProgram runs prog in process p and returns its exit code.
func runProgram(p *proc, prog program, env []string, cwd string, stdin io.Reader, stdout, stderr io.Writer, term func() ([2]uint16, bool)) int {
	if err := p.enter(); err != nil {
		p.leave()
		return p.code
	}
	sh := &shell{p: p, c: p.c, vars: map[string]string{}, cwd: cwd, out: stdout, err: stderr, term: term,
		in: bufio.NewReader(&reader{p: p, r: stdin})}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, ok := sh.vars[k]; !ok {
			sh.keys = append(sh.keys, k)
		}
		sh.vars[k] = v
	}
	if sh.cwd == "" {
		sh.cwd = "/"
	}
	code, err := sh.runArgv(prog.args)
	if sh.onExit != nil && !errors.Is(err, errKilled) {
		h := *sh.onExit
		sh.onExit = nil
		sh.status = code
		if c, e := sh.script(h); e == nil || !errors.Is(e, errKilled) {
			code, err = c, e
			var ex exitStatus
			if errors.As(e, &ex) {
				code, err = ex.code, nil
			}
		}
	}
	p.leave()
	if errors.Is(err, errKilled) {
		return p.code
	}
	// What the program left running in the background ends with it.
	p.die(code)
	return code
}

// runArgv runs a program by its arguments: a shell, or an applet.
func (sh *shell) runArgv(args []string) (int, error) {
	name := path.Base(args[0])
	if name == "busybox" && len(args) > 1 {
		return sh.runArgv(args[1:])
	}
	if shells[name] {
		switch {
		case len(args) >= 3 && args[1] == "-c":
			return sh.script(args[2])
		case len(args) == 1:
			return sh.interactive()
		}
		fmt.Fprintf(sh.err, "%s: can't open '%s': No such file or directory\n", name, args[1])
		return 127, nil
	}
	code, err := sh.applet(name, args)
	var ex exitStatus
	if errors.As(err, &ex) {
		return ex.code, nil
	}
	return code, err
}

// interactive runs the commands read from stdin, one line at a time.
func (sh *shell) interactive() (int, error) {
	for {
		line, rerr := sh.in.ReadString('\n')
		if errors.Is(rerr, errKilled) {
			return 0, errKilled
		}
		if strings.TrimSpace(line) != "" {
			if _, err := sh.script(line); err != nil {
				var ex exitStatus
				if errors.As(err, &ex) {
					return ex.code, nil
				}
				return 0, err
			}
		}
		if rerr != nil {
			return sh.status, nil
		}
	}
}

// script runs a list of commands and returns the last one's status; an
// `exit` is an exitStatus error.
func (sh *shell) script(src string) (int, error) {
	toks, err := lex(src)
	if err != nil {
		fmt.Fprintf(sh.err, "sh: %v\n", err)
		sh.status = 2
		return 2, nil
	}
	cmds, err := parse(toks)
	if err != nil {
		fmt.Fprintf(sh.err, "sh: %v\n", err)
		sh.status = 2
		return 2, nil
	}
	for _, cmd := range cmds {
		if err := sh.handleTraps(); err != nil {
			return sh.status, err
		}
		switch {
		case cmd.cond == "&&" && sh.status != 0, cmd.cond == "||" && sh.status == 0:
			continue
		}
		if cmd.background {
			sh.background(cmd)
			sh.status = 0
			continue
		}
		code, err := sh.run(cmd)
		sh.status = code
		if err != nil {
			var ex exitStatus
			if errors.As(err, &ex) {
				sh.status = ex.code
			}
			return sh.status, err
		}
	}
	if err := sh.handleTraps(); err != nil {
		return sh.status, err
	}
	return sh.status, nil
}

// handleTraps runs the handlers of the trapped signals that came.
func (sh *shell) handleTraps() error {
	for {
		_, h, ok := sh.p.takeTrapped()
		if !ok {
			return nil
		}
		if h == "" {
			continue
		}
		saved := sh.status
		if _, err := sh.script(h); err != nil {
			return err
		}
		sh.status = saved
	}
}

// background runs cmd as a job of the shell; wait waits for it.
func (sh *shell) background(cmd command) {
	done := make(chan struct{})
	sh.jobs = append(sh.jobs, done)
	job := *sh
	job.jobs = nil
	job.in = bufio.NewReader(eofReader{})
	go func() {
		defer close(done)
		defer sh.p.leave()
		if sh.p.enter() != nil {
			return
		}
		_, _ = job.run(cmd)
	}()
}

// run runs one simple command.
func (sh *shell) run(cmd command) (int, error) {
	var argv []string
	for _, w := range cmd.words {
		argv = append(argv, sh.expand(w)...)
	}
	out, errw := sh.out, sh.err
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, r := range cmd.redirs {
		var target io.Writer
		switch {
		case r.dup == 1:
			target = sh.out
		case r.dup == 2:
			target = sh.err
		default:
			name := strings.Join(sh.expand(r.file), " ")
			if name == "/dev/null" {
				target = io.Discard
				break
			}
			f, err := sh.create(name, r.append)
			if err != nil {
				fmt.Fprintf(sh.err, "sh: can't create %s: %v\n", name, err)
				return 1, nil
			}
			files = append(files, f)
			target = f
		}
		if r.fd == 2 {
			errw = target
		} else {
			out = target
		}
	}
	if len(argv) == 0 {
		return 0, nil
	}
	if k, v, ok := strings.Cut(argv[0], "="); ok && len(argv) == 1 && validName(k) {
		if _, had := sh.vars[k]; !had {
			sh.keys = append(sh.keys, k)
		}
		sh.vars[k] = v
		return 0, nil
	}
	saved := [2]io.Writer{sh.out, sh.err}
	sh.out, sh.err = out, errw
	defer func() { sh.out, sh.err = saved[0], saved[1] }()
	return sh.command(argv)
}

// create opens the container's file name for writing.
func (sh *shell) create(name string, appendTo bool) (*os.File, error) {
	if !path.IsAbs(name) {
		name = path.Join(sh.cwd, name)
	}
	hp, err := sh.c.hostPath(name)
	if err != nil {
		return nil, err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	return os.OpenFile(hp, flags, 0o644)
}

// command runs a builtin, or an applet found through PATH.
func (sh *shell) command(argv []string) (int, error) {
	switch argv[0] {
	case "exit":
		code := sh.status
		if len(argv) > 1 {
			n, err := strconv.Atoi(argv[1])
			if err != nil {
				fmt.Fprintf(sh.err, "sh: exit: Illegal number: %s\n", argv[1])
				n = 2
			}
			code = n & 0xff
		}
		return code, exitStatus{code}
	case "trap":
		return sh.trap(argv[1:]), nil
	case "wait":
		return sh.wait()
	case "read":
		return sh.read(argv[1:])
	case "exec":
		if len(argv) == 1 {
			return 0, nil
		}
		code, err := sh.command(argv[1:])
		if err != nil {
			return code, err
		}
		return code, exitStatus{code}
	case "echo", "true", "false", ":", "pwd":
		return sh.applet(argv[0], argv)
	}
	name, err := sh.c.lookPath(argv[0], sh.environ())
	if err != nil {
		fmt.Fprintf(sh.err, "sh: %s: not found\n", argv[0])
		return 127, nil
	}
	if shells[name] {
		sub := *sh
		sub.jobs, sub.onExit = nil, nil
		return sub.runArgv(argv)
	}
	if !applets[name] {
		fmt.Fprintf(sh.err, "sh: %s: Permission denied\n", argv[0])
		return 126, nil
	}
	return sh.applet(name, argv)
}

func (sh *shell) environ() []string {
	env := make([]string, 0, len(sh.keys))
	for _, k := range sh.keys {
		env = append(env, k+"="+sh.vars[k])
	}
	return env
}

// applet runs one of the fake's applets.
func (sh *shell) applet(name string, argv []string) (int, error) {
	switch name {
	case "echo":
		args := argv[1:]
		nl := "\n"
		if len(args) > 0 && args[0] == "-n" {
			args, nl = args[1:], ""
		}
		_, err := io.WriteString(sh.out, strings.Join(args, " ")+nl)
		return 0, sh.writeErr(err)
	case "true", ":":
		return 0, nil
	case "false":
		return 1, nil
	case "pwd":
		_, err := io.WriteString(sh.out, sh.cwd+"\n")
		return 0, sh.writeErr(err)
	case "hostname":
		_, err := io.WriteString(sh.out, sh.c.spec.Hostname+"\n")
		return 0, sh.writeErr(err)
	case "env":
		var b strings.Builder
		for _, kv := range sh.environ() {
			b.WriteString(kv + "\n")
		}
		_, err := io.WriteString(sh.out, b.String())
		return 0, sh.writeErr(err)
	case "sleep":
		return sh.sleep(argv[1:])
	case "cat":
		return sh.cat(argv[1:])
	case "stty":
		if len(argv) != 2 || argv[1] != "size" {
			fmt.Fprintln(sh.err, "stty: the fake knows only `stty size`")
			return 1, nil
		}
		size, ok := sh.term()
		if !ok {
			fmt.Fprintln(sh.err, "stty: standard input: Not a tty")
			return 1, nil
		}
		_, err := fmt.Fprintf(sh.out, "%d %d\n", size[0], size[1])
		return 0, sh.writeErr(err)
	}
	fmt.Fprintf(sh.err, "%s: applet not found\n", name)
	return 127, nil
}

// writeErr turns a write of a killed process into its end.
func (sh *shell) writeErr(err error) error {
	if errors.Is(err, errKilled) {
		return errKilled
	}
	return nil
}

func (sh *shell) sleep(args []string) (int, error) {
	if len(args) != 1 {
		fmt.Fprintln(sh.err, "sleep: usage: sleep N")
		return 1, nil
	}
	var d time.Duration
	if args[0] == "infinity" {
		d = 1<<63 - 1
	} else {
		f, err := strconv.ParseFloat(strings.TrimSuffix(args[0], "s"), 64)
		if err != nil || f < 0 {
			fmt.Fprintf(sh.err, "sleep: invalid number '%s'\n", args[0])
			return 1, nil
		}
		d = time.Duration(f * float64(time.Second))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	// A foreground command: a trapped signal waits for it to end.
	err := sh.p.block(func() error {
		select {
		case <-t.C:
			return nil
		case <-sh.p.killed:
			return errKilled
		}
	})
	return 0, err
}

func (sh *shell) cat(files []string) (int, error) {
	if len(files) == 0 {
		files = []string{"-"}
	}
	status := 0
	for _, f := range files {
		var r io.Reader
		if f == "-" {
			r = sh.in
		} else {
			name := f
			if !path.IsAbs(name) {
				name = path.Join(sh.cwd, name)
			}
			hp, err := sh.c.hostPath(name)
			var data []byte
			if err == nil {
				data, err = os.ReadFile(hp)
			}
			if err != nil {
				fmt.Fprintf(sh.err, "cat: can't open '%s': No such file or directory\n", f)
				status = 1
				continue
			}
			r = strings.NewReader(string(data))
		}
		if _, err := io.Copy(sh.out, r); errors.Is(err, errKilled) {
			return 0, errKilled
		}
	}
	return status, nil
}

func (sh *shell) read(names []string) (int, error) {
	line, err := sh.in.ReadString('\n')
	if errors.Is(err, errKilled) {
		return 0, errKilled
	}
	if err != nil && line == "" {
		return 1, nil
	}
	line = strings.TrimRight(line, "\n")
	if len(names) == 0 {
		names = []string{"REPLY"}
	}
	fields := strings.Fields(line)
	for i, n := range names {
		v := ""
		switch {
		case i == len(names)-1 && i < len(fields):
			v = strings.Join(fields[i:], " ")
		case i < len(fields):
			v = fields[i]
		}
		if _, had := sh.vars[n]; !had {
			sh.keys = append(sh.keys, n)
		}
		sh.vars[n] = v
	}
	return 0, nil
}

// trap sets handlers: trap 'CMDS' SIGNAL..., trap - SIGNAL... resets.
func (sh *shell) trap(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(sh.err, "trap: usage: trap ACTION SIGNAL...")
		return 1
	}
	action := args[0]
	for _, name := range args[1:] {
		if strings.EqualFold(strings.TrimPrefix(strings.ToUpper(name), "SIG"), "EXIT") || name == "0" {
			if action == "-" {
				sh.onExit = nil
			} else {
				a := action
				sh.onExit = &a
			}
			continue
		}
		sig, ok := signalByName(name)
		if !ok {
			fmt.Fprintf(sh.err, "trap: %s: bad trap\n", name)
			return 1
		}
		sh.p.mu.Lock()
		if action == "-" {
			delete(sh.p.traps, sig)
		} else {
			sh.p.traps[sig] = action
		}
		sh.p.mu.Unlock()
	}
	return 0
}

// wait waits for the shell's jobs; a trapped signal interrupts it: its
// handler runs and wait returns 128 plus the signal's number.
func (sh *shell) wait() (int, error) {
	for _, done := range sh.jobs {
		for {
			var sig syscall.Signal
			var handler string
			var got bool
			err := sh.p.block(func() error {
				select {
				case <-done:
					return nil
				case <-sh.p.kick:
					sig, handler, got = sh.p.takeTrapped()
					return nil
				case <-sh.p.killed:
					return errKilled
				}
			})
			if err != nil {
				return 0, err
			}
			if !got {
				select {
				case <-done:
				default:
					continue // a kick whose signal was handled already
				}
				break
			}
			if handler != "" {
				if _, err := sh.script(handler); err != nil {
					return 0, err
				}
			}
			return 128 + int(sig), nil
		}
	}
	sh.jobs = nil
	return 0, nil
}
