// Command registrybench compares wharf's embedded registry with Debian's
// docker-registry (CNCF Distribution 2.8), both on loopback with
// filesystem storage on the same disk, in the same run:
//
//   - push and pull of a 200 MB image (4 layers) from a local OCI layout
//     with skopeo, in MB/s (median of -n runs; every push goes to a new
//     repository and skopeo runs with an empty blob cache, so that no
//     layer is skipped or mounted);
//   - manifest GET latency with 200 concurrent clients (p50, p99);
//   - a re-push of an image whose layers are stored (a new tag): skopeo's
//     whole run, and the registry's part of it (a HEAD per blob and the
//     manifest PUT, from Go), target <= 50 ms.
//
// It prints each figure and wharf's ratio to Distribution's. It needs
// root (a wharf daemon), skopeo and docker-registry.
//
//	go run ./bench/registrybench -wharf bin/wharf
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/wharf-dev/wharf/bench/internal/benchutil"
)

var (
	wharfBin = flag.String("wharf", "", "wharf binary (default: built from this checkout as make build does)")
	n        = flag.Int("n", 3, "push and pull runs per registry")
	sizeMB   = flag.Int("size", 200, "image size in MB (4 layers)")
	clients  = flag.Int("clients", 200, "concurrent manifest GET clients")
	perCl    = flag.Int("requests", 50, "manifest GETs per client")
)

// nobody runs skopeo: as root its blob cache is the host's
// /var/lib/containers/cache, which would make it mount layers it pushed
// before instead of uploading them; as another user it is under the
// XDG_DATA_HOME we give it.
const nobody = 65534

type target struct {
	name  string
	host  string
	creds string // skopeo --creds ("": none)
	// auth is the Authorization header of raw requests ("": none).
	auth func(scope string) string
}

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		benchutil.Fatal("registrybench needs root")
	}
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		benchutil.Fatal("skopeo is needed: " + err.Error())
	}
	distBin, err := exec.LookPath("docker-registry")
	if err != nil {
		benchutil.Fatal("Debian's docker-registry is needed: " + err.Error())
	}
	bin := benchutil.WharfBinary(*wharfBin)
	dir, err := os.MkdirTemp("/var/tmp", "wrb-")
	benchutil.Check(err)
	benchutil.Check(os.Chmod(dir, 0o755))
	benchutil.OnExit(func() {
		benchutil.UnmountUnder(dir)
		_ = os.RemoveAll(dir)
	})
	defer benchutil.Cleanup()

	// The image, once, as an OCI layout readable by skopeo's user.
	fmt.Printf("writing a %d MB image (4 layers) as an OCI layout...\n", *sizeMB)
	img, err := random.Image(int64(*sizeMB)<<20/4, 4)
	benchutil.Check(err)
	src := filepath.Join(dir, "src")
	p, err := layout.Write(src, empty.Index)
	benchutil.Check(err)
	benchutil.Check(p.AppendImage(img))
	benchutil.Check(filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err == nil {
			err = os.Chmod(path, map[bool]os.FileMode{true: 0o755, false: 0o644}[fi.IsDir()])
		}
		return err
	}))
	var total int64
	layers, _ := img.Layers()
	for _, l := range layers {
		s, _ := l.Size()
		total += s
	}

	// wharf: a daemon with its registry and an admin key.
	wharfAddr := freeAddr()
	d := benchutil.StartDaemon(bin, filepath.Join(dir, "w"), fmt.Sprintf("wrb%x", os.Getpid()&0xffffff), "10.252.79.0/24", "--registry", wharfAddr)
	var key struct{ AccessKeyId string }
	benchutil.Check(json.Unmarshal([]byte(benchutil.MustWharf(bin, d.Sock, "keys", "create", "--json", "--admin")), &key))
	pw := strings.TrimSpace(benchutil.MustWharf(bin, d.Sock, "registry", "login-password", "--key", key.AccessKeyId))
	wharfT := &target{name: "wharf", host: wharfAddr, creds: "AWS:" + pw, auth: func(scope string) string { return "Bearer " + bearer(wharfAddr, pw, scope) }}

	// Distribution 2.8 on the same disk.
	distAddr := freeAddr()
	startDistribution(distBin, filepath.Join(dir, "dist"), distAddr)
	distT := &target{name: "distribution", host: distAddr, auth: func(string) string { return "" }}
	targets := []*target{wharfT, distT}

	// Push and pull, alternating the registries run by run.
	push := map[string][]float64{}
	pull := map[string][]float64{}
	mb := float64(total) / 1e6
	for i := 0; i < *n; i++ {
		order := targets
		if i%2 == 1 {
			order = []*target{distT, wharfT}
		}
		for _, t := range order {
			repo := fmt.Sprintf("bench/push%d", i)
			el := runSkopeo(skopeo, dir, "copy", "--quiet", "--dest-tls-verify=false", destCreds(t), "oci:"+src, "docker://"+t.host+"/"+repo+":1")
			push[t.name] = append(push[t.name], mb/el.Seconds())
			out := filepath.Join(dir, fmt.Sprintf("pull-%s-%d", t.name, i))
			el = runSkopeo(skopeo, dir, "copy", "--quiet", "--src-tls-verify=false", srcCreds(t), "docker://"+t.host+"/"+repo+":1", "oci:"+out)
			pull[t.name] = append(pull[t.name], mb/el.Seconds())
			_ = os.RemoveAll(out)
		}
	}

	// Manifest GETs, 200 clients at once.
	p50, p99 := map[string]time.Duration{}, map[string]time.Duration{}
	for _, t := range targets {
		p50[t.name], p99[t.name] = manifestLatency(t, "bench/push0", "1")
	}

	// Re-push of an image whose layers are stored: a new tag.
	reSkopeo, reProto := map[string]time.Duration{}, map[string]time.Duration{}
	for _, t := range targets {
		var sk, pr []time.Duration
		for i := 0; i < 5; i++ {
			sk = append(sk, runSkopeo(skopeo, dir, "copy", "--quiet", "--dest-tls-verify=false", destCreds(t), "oci:"+src, "docker://"+t.host+fmt.Sprintf("/bench/push0:re%d", i)))
		}
		man, _ := img.RawManifest()
		mt, _ := img.MediaType()
		cfg, _ := img.ConfigName()
		blobs := []string{cfg.String()}
		for _, l := range layers {
			dg, _ := l.Digest()
			blobs = append(blobs, dg.String())
		}
		for i := 0; i < 20; i++ {
			pr = append(pr, rePush(t, "bench/push0", fmt.Sprintf("go%d", i), blobs, man, string(mt)))
		}
		reSkopeo[t.name], reProto[t.name] = median(sk), median(pr)
	}

	fmt.Printf("\nregistrybench: %.0f MB image, %d runs; manifest GET: %d clients x %d requests\n", mb, *n, *clients, *perCl)
	fmt.Printf("%-34s %14s %14s %8s\n", "", "wharf", "distribution", "ratio")
	row := func(name, a, b string, ratio float64) { fmt.Printf("%-34s %14s %14s %7.2fx\n", name, a, b, ratio) }
	pw1, pd1 := medianF(push["wharf"]), medianF(push["distribution"])
	row("push (skopeo, MB/s, median)", fmt.Sprintf("%.1f", pw1), fmt.Sprintf("%.1f", pd1), pw1/pd1)
	pw2, pd2 := medianF(pull["wharf"]), medianF(pull["distribution"])
	row("pull (skopeo, MB/s, median)", fmt.Sprintf("%.1f", pw2), fmt.Sprintf("%.1f", pd2), pw2/pd2)
	row("manifest GET p50", benchutil.Ms(p50["wharf"]), benchutil.Ms(p50["distribution"]), ratio(p50["wharf"], p50["distribution"]))
	row("manifest GET p99", benchutil.Ms(p99["wharf"]), benchutil.Ms(p99["distribution"]), ratio(p99["wharf"], p99["distribution"]))
	row("re-push, skopeo run (median)", benchutil.Ms(reSkopeo["wharf"]), benchutil.Ms(reSkopeo["distribution"]), ratio(reSkopeo["wharf"], reSkopeo["distribution"]))
	row("re-push, HEADs + PUT (median)", benchutil.Ms(reProto["wharf"]), benchutil.Ms(reProto["distribution"]), ratio(reProto["wharf"], reProto["distribution"]))
	fmt.Println("targets: push/pull ratio >= 1.0x, manifest p99 ratio <= 1.0x, re-push <= 50 ms")
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func median(ds []time.Duration) time.Duration { return benchutil.Quantile(ds, 0.5) }

func medianF(fs []float64) float64 {
	s := append([]float64(nil), fs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	benchutil.Check(err)
	defer l.Close()
	return l.Addr().String()
}

func destCreds(t *target) string {
	if t.creds == "" {
		return "--dest-no-creds"
	}
	return "--dest-creds=" + t.creds
}

func srcCreds(t *target) string {
	if t.creds == "" {
		return "--src-no-creds"
	}
	return "--src-creds=" + t.creds
}

// runSkopeo runs skopeo as nobody with a fresh blob cache and returns
// how long it took.
func runSkopeo(bin, dir string, args ...string) time.Duration {
	home, err := os.MkdirTemp(dir, "skopeo-home-")
	benchutil.Check(err)
	defer os.RemoveAll(home)
	benchutil.Check(os.Chown(home, nobody, nobody))
	// The pull's destination directory is made by skopeo in dir.
	benchutil.Check(os.Chmod(dir, 0o777))
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"HOME=" + home, "XDG_DATA_HOME=" + home, "XDG_RUNTIME_DIR=" + home, "XDG_CONFIG_HOME=" + home, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		benchutil.Fatal(fmt.Sprintf("skopeo %s: %v: %s", strings.Join(args, " "), err, errb.String()))
	}
	return time.Since(start)
}

func startDistribution(bin, dir, addr string) {
	benchutil.Check(os.MkdirAll(dir, 0o755))
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	path := filepath.Join(dir, "config.yml")
	benchutil.Check(os.WriteFile(path, []byte(cfg), 0o644))
	cmd := exec.Command(bin, "serve", path)
	logf, err := os.Create(filepath.Join(dir, "log"))
	benchutil.Check(err)
	cmd.Stdout, cmd.Stderr = logf, logf
	benchutil.Check(cmd.Start())
	benchutil.OnExit(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	benchutil.MustWaitFor(func() bool {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// bearer fetches a token of wharf's token endpoint for scope.
func bearer(host, pw, scope string) string {
	q := url.Values{"service": {"wharf"}, "scope": {scope}}
	req, _ := http.NewRequest("GET", "http://"+host+"/token?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("AWS:"+pw)))
	resp, err := http.DefaultClient.Do(req)
	benchutil.Check(err)
	defer resp.Body.Close()
	var tr struct{ Token string }
	benchutil.Check(json.NewDecoder(resp.Body).Decode(&tr))
	if tr.Token == "" {
		benchutil.Fatal("no token from wharf's registry")
	}
	return tr.Token
}

const accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json"

// manifestLatency runs the clients' GETs of repo:tag at once and returns
// p50 and p99.
func manifestLatency(t *target, repo, tag string) (time.Duration, time.Duration) {
	authz := t.auth("repository:" + repo + ":pull")
	tr := &http.Transport{MaxIdleConns: *clients * 2, MaxIdleConnsPerHost: *clients * 2, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	u := "http://" + t.host + "/v2/" + repo + "/manifests/" + tag
	get := func() time.Duration {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", u, nil)
		req.Header.Set("Accept", accept)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		start := time.Now()
		resp, err := c.Do(req)
		benchutil.Check(err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			benchutil.Fatal(fmt.Sprintf("%s: GET %s: %d", t.name, u, resp.StatusCode))
		}
		return time.Since(start)
	}
	run := func(each int) []time.Duration {
		var mu sync.Mutex
		var all []time.Duration
		var wg sync.WaitGroup
		for i := 0; i < *clients; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := make([]time.Duration, 0, each)
				for j := 0; j < each; j++ {
					local = append(local, get())
				}
				mu.Lock()
				all = append(all, local...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return all
	}
	run(2) // connections up, caches warm
	all := run(*perCl)
	return benchutil.Quantile(all, 0.5), benchutil.Quantile(all, 0.99)
}

// rePush is a client's re-push of a stored image under a new tag: a HEAD
// of every blob, then the manifest.
func rePush(t *target, repo, tag string, blobs []string, manifest []byte, mediaType string) time.Duration {
	authz := t.auth("repository:" + repo + ":pull,push")
	do := func(method, path string, body []byte, ct string) int {
		req, _ := http.NewRequest(method, "http://"+t.host+path, bytes.NewReader(body))
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		benchutil.Check(err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	start := time.Now()
	for _, b := range blobs {
		if code := do("HEAD", "/v2/"+repo+"/blobs/"+b, nil, ""); code != 200 {
			benchutil.Fatal(fmt.Sprintf("%s: HEAD blob %s: %d", t.name, b, code))
		}
	}
	if code := do("PUT", "/v2/"+repo+"/manifests/"+tag, manifest, mediaType); code != 201 {
		benchutil.Fatal(fmt.Sprintf("%s: PUT manifest: %d", t.name, code))
	}
	return time.Since(start)
}
