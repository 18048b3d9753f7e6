package registry_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// etcdServer is a real etcd process on free ports, owned by one test.
type etcdServer struct {
	t                  *testing.T
	bin                string
	clientURL, peerURL string
	cmd                *exec.Cmd
	output             *lockedBuffer
	extraArgs          []string
	password           string // root's, once enableAuth ran
	exited             chan struct{}
}

// startEtcd runs `etcd` with a fresh data directory and waits until it answers.
// The test fails when etcd is not installed: CI installs it (Debian etcd-server).
func startEtcd(t *testing.T, extraArgs ...string) *etcdServer {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd is not installed (no etcd on PATH): install it, e.g. `apt-get install etcd-server`; .ci/run does so in CI")
	}
	e := &etcdServer{t: t, bin: bin, clientURL: "http://" + freeAddr(t), peerURL: "http://" + freeAddr(t), extraArgs: extraArgs}
	e.start()
	t.Cleanup(e.kill)
	return e
}

// start runs etcd on the server's ports with an empty data directory.
func (e *etcdServer) start() {
	e.t.Helper()
	dir := filepath.Join(e.t.TempDir(), "data")
	e.output = &lockedBuffer{}
	e.cmd = exec.Command(e.bin,
		"--name", "test",
		"--data-dir", dir,
		"--listen-client-urls", e.clientURL,
		"--advertise-client-urls", e.clientURL,
		"--listen-peer-urls", e.peerURL,
		"--initial-advertise-peer-urls", e.peerURL,
		"--initial-cluster", "test="+e.peerURL,
		"--initial-cluster-state", "new",
	)
	e.cmd.Args = append(e.cmd.Args, e.extraArgs...)
	e.cmd.Stdout, e.cmd.Stderr = e.output, e.output
	if err := e.cmd.Start(); err != nil {
		e.t.Fatalf("starting etcd: %v", err)
	}
	e.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(e.cmd, e.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(e.clientURL + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		select {
		case <-e.exited:
			e.t.Fatalf("etcd exited before answering:\n%s", e.output.String())
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("etcd did not answer within 30 s:\n%s", e.output.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the etcd process (by its pid) and waits for it.
func (e *etcdServer) kill() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	select {
	case <-e.exited:
	default:
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
}

// restartEmpty kills etcd and starts it again on the same ports with an empty
// data directory: every lease and key is gone, as after losing a cluster.
func (e *etcdServer) restartEmpty() {
	e.kill()
	e.start()
}

// get reads key; ok is false when it does not exist.
func (e *etcdServer) get(key string) (value string, lease int64, ok bool) {
	e.t.Helper()
	var out struct {
		Kvs []struct {
			Value string `json:"value"`
			Lease string `json:"lease"`
		} `json:"kvs"`
	}
	e.post("/v3/kv/range", map[string]string{"key": base64.StdEncoding.EncodeToString([]byte(key))}, &out)
	if len(out.Kvs) == 0 {
		return "", 0, false
	}
	v, _ := base64.StdEncoding.DecodeString(out.Kvs[0].Value)
	lease, _ = strconv.ParseInt(out.Kvs[0].Lease, 10, 64)
	return string(v), lease, true
}

// keys lists the keys under prefix.
func (e *etcdServer) keys(prefix string) []string {
	e.t.Helper()
	end := []byte(prefix)
	end[len(end)-1]++
	var out struct {
		Kvs []struct {
			Key string `json:"key"`
		} `json:"kvs"`
	}
	e.post("/v3/kv/range", map[string]string{
		"key":       base64.StdEncoding.EncodeToString([]byte(prefix)),
		"range_end": base64.StdEncoding.EncodeToString(end),
	}, &out)
	keys := make([]string, len(out.Kvs))
	for i, kv := range out.Kvs {
		k, _ := base64.StdEncoding.DecodeString(kv.Key)
		keys[i] = string(k)
	}
	return keys
}

// enableAuth creates the user root with password and turns authentication on;
// the helpers then authenticate as root.
func (e *etcdServer) enableAuth(password string) {
	e.t.Helper()
	var out json.RawMessage
	e.post("/v3/auth/role/add", map[string]string{"name": "root"}, &out)
	e.post("/v3/auth/user/add", map[string]string{"name": "root", "password": password}, &out)
	e.post("/v3/auth/user/grant", map[string]string{"user": "root", "role": "root"}, &out)
	e.post("/v3/auth/enable", map[string]string{}, &out)
	e.password = password
}

func (e *etcdServer) post(path string, in, out any) {
	e.t.Helper()
	token := ""
	if e.password != "" {
		var auth struct {
			Token string `json:"token"`
		}
		e.rawPost("/v3/auth/authenticate", "", map[string]string{"name": "root", "password": e.password}, &auth)
		token = auth.Token
	}
	e.rawPost(path, token, in, out)
}

func (e *etcdServer) rawPost(path, token string, in, out any) {
	e.t.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, e.clientURL+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("etcd %s: %v", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		e.t.Fatalf("etcd %s: HTTP %d", path, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		e.t.Fatalf("etcd %s: %v", path, err)
	}
}

// waitFor polls check until it holds; the deadline only catches a hang.
func waitFor(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}
