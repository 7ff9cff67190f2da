package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yuinet/yui/api"
)

// startTrio starts three nodes that know each other and returns a client
// of each node's API.
func startTrio(t *testing.T) ([]*Node, []*api.Client) {
	t.Helper()
	base := t.TempDir()
	return joinTrio(t, base, startLocal(t, filepath.Join(base, "a")))
}

// joinTrio starts two more nodes in base that bootstrap from first, and
// waits until each of the three knows the two others.
func joinTrio(t *testing.T, base string, first *Node) ([]*Node, []*api.Client) {
	t.Helper()
	nodes := []*Node{first,
		startLocal(t, filepath.Join(base, "b"), first.Addr().String()),
		startLocal(t, filepath.Join(base, "c"), first.Addr().String()),
	}
	var clients []*api.Client
	for _, n := range nodes {
		waitFor(t, n.ID().Short()+" to know the 2 others", func() bool { return len(n.Peers()) == 2 })
		clients = append(clients, api.NewClient(n.APIAddr()))
	}
	return nodes, clients
}

func TestRecordRoundTrip(t *testing.T) {
	_, clients := startTrio(t)
	ctx := context.Background()
	big := make([]byte, 3<<20+17)
	rand.Read(big)

	tests := []struct {
		key, ctype string
		value      []byte
	}{
		{"readings/2024/01.csv", "text/csv", []byte("t,v\n1,2\n")},
		{"empty", "", nil},
		{"..", "", []byte("dot dot")},
		{"with space/and?query#frag%", "text/plain", []byte("odd key")},
		{"big.bin", "application/octet-stream", big},
	}
	for _, tt := range tests {
		rec, err := clients[0].PutRecord(ctx, "", "lab", tt.key, bytes.NewReader(tt.value), int64(len(tt.value)), tt.ctype)
		if err != nil {
			t.Fatalf("put %q: %v", tt.key, err)
		}
		if rec.Key != tt.key || rec.Size != uint64(len(tt.value)) {
			t.Errorf("put %q returned key %q size %d, want size %d", tt.key, rec.Key, rec.Size, len(tt.value))
		}

		var out bytes.Buffer
		got, err := clients[0].GetRecord(ctx, "", "lab", tt.key, &out)
		if err != nil {
			t.Fatalf("get %q: %v", tt.key, err)
		}
		if !bytes.Equal(out.Bytes(), tt.value) {
			t.Errorf("get %q returned %d bytes that differ from the %d written", tt.key, out.Len(), len(tt.value))
		}
		if got.Version != rec.Version {
			t.Errorf("get %q: version %d, want %d", tt.key, got.Version, rec.Version)
		}
		if tt.ctype != "" && got.ContentType != tt.ctype {
			t.Errorf("get %q: content type %q, want %q", tt.key, got.ContentType, tt.ctype)
		}
		if got.Writer == "" || got.Modified.IsZero() {
			t.Errorf("get %q: metadata lacks writer or time: %+v", tt.key, got)
		}
	}

	list, err := clients[0].ListRecords(ctx, "", "lab", "readings/")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != 1 || list[0].Key != "readings/2024/01.csv" {
		t.Errorf("list with prefix readings/: %+v, want the one CSV", list)
	}
}

func TestRecordDeleteAndErrors(t *testing.T) {
	_, clients := startTrio(t)
	ctx := context.Background()

	if _, err := clients[1].PutRecord(ctx, "", "lab", "k", strings.NewReader("v"), 1, ""); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := clients[1].DeleteRecord(ctx, "", "lab", "k"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err := clients[1].GetRecord(ctx, "", "lab", "k", &bytes.Buffer{})
	if !errors.Is(err, api.ErrNotFound) {
		t.Errorf("get after delete: error %v, want ErrNotFound", err)
	}

	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusNotFound || se.Fix == "" {
		t.Errorf("get after delete: %#v, want a 404 StatusError with a fix", err)
	}

	_, err = clients[1].GetRecord(ctx, "", "nosuchns", "k", &bytes.Buffer{})
	if !errors.Is(err, api.ErrNotFound) {
		t.Errorf("get from a missing namespace: error %v, want ErrNotFound", err)
	}
	if !errors.As(err, &se) || !strings.Contains(se.Message, `namespace not found: "nosuchns"`) {
		t.Errorf("get from a missing namespace: %#v, want a message naming the namespace", err)
	}
	if se != nil && !strings.Contains(se.Fix, "check the namespace's name") {
		t.Errorf("get from a missing namespace: fix %q, want one about the namespace's name", se.Fix)
	}

	_, err = clients[1].PutRecord(ctx, "", "Bad-Name", "k", strings.NewReader("v"), 1, "")
	if !errors.Is(err, api.ErrInvalid) {
		t.Errorf("put to namespace Bad-Name: error %v, want ErrInvalid", err)
	}
	_, err = clients[1].PutRecord(ctx, "nobody", "lab", "k", strings.NewReader("v"), 1, "")
	if !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("put as unknown user: error %v, want ErrInvalid naming the user", err)
	}
}

// TestGrantLetsOtherNodeRead checks that users are local to their node:
// another node's default user may not read a namespace until its owner
// grants it, and then may.
func TestGrantLetsOtherNodeRead(t *testing.T) {
	_, clients := startTrio(t)
	ctx := context.Background()

	if _, err := clients[0].PutRecord(ctx, "", "shared", "note", strings.NewReader("hello"), 5, "text/plain"); err != nil {
		t.Fatalf("put: %v", err)
	}
	_, err := clients[2].GetRecord(ctx, "", "shared", "note", &bytes.Buffer{})
	if !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("get by another node's user before the grant: error %v, want ErrForbidden", err)
	}

	users, err := clients[2].Users(ctx)
	if err != nil || len(users) != 1 {
		t.Fatalf("users of node c: %v, %v", users, err)
	}
	grant := api.Grant{User: "c-default", PublicKeys: users[0].PublicKeys, Right: api.RightRead}
	if err := clients[0].Grant(ctx, "", "shared", grant); err != nil {
		t.Fatalf("grant: %v", err)
	}
	var out bytes.Buffer
	if _, err := clients[2].GetRecord(ctx, "", "shared", "note", &out); err != nil {
		t.Fatalf("get after the grant: %v", err)
	}
	if out.String() != "hello" {
		t.Errorf("get after the grant returned %q, want hello", out.String())
	}

	bad := grant
	bad.Right = "admin"
	if err := clients[0].Grant(ctx, "", "shared", bad); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("grant of right admin: error %v, want ErrInvalid", err)
	}
	bad = grant
	bad.PublicKeys = []byte("not keys")
	if err := clients[0].Grant(ctx, "", "shared", bad); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("grant with bad keys: error %v, want ErrInvalid", err)
	}
}

func TestBatchWrite(t *testing.T) {
	_, clients := startTrio(t)
	ctx := context.Background()

	var lines []api.BatchLine
	for i := range 50 {
		value := []byte(strings.Repeat("x", i))
		if i%7 == 0 {
			value = append(value, 0xff, 0x00)
		}
		lines = append(lines, api.NewBatchLine("reading/"+string(rune('a'+i%26))+string(rune('a'+i/26)), value, "text/plain"))
	}
	recs, err := clients[1].PutBatch(ctx, "", "batch", lines)
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	if len(recs) != len(lines) {
		t.Fatalf("batch stored %d records, want %d", len(recs), len(lines))
	}
	for _, l := range lines {
		want, _ := l.Bytes()
		var out bytes.Buffer
		if _, err := clients[1].GetRecord(ctx, "", "batch", l.Key, &out); err != nil {
			t.Fatalf("get %s: %v", l.Key, err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("get %s: %q, want %q", l.Key, out.Bytes(), want)
		}
	}

	dup := []api.BatchLine{lines[0], lines[0]}
	if _, err := clients[1].PutBatch(ctx, "", "batch", dup); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("batch with a repeated key: error %v, want ErrInvalid", err)
	}
}

func TestRepairAndStatsEndpoints(t *testing.T) {
	_, clients := startTrio(t)
	ctx := context.Background()
	if _, err := clients[0].PutRecord(ctx, "", "lab", "k", strings.NewReader("v"), 1, ""); err != nil {
		t.Fatalf("put: %v", err)
	}

	held := int64(0)
	for i, c := range clients {
		st, err := c.StorageStats(ctx)
		if err != nil {
			t.Fatalf("stats of node %d: %v", i, err)
		}
		if st.Tier != "upper" {
			t.Errorf("node %d is in tier %q, want upper on a disk with room", i, st.Tier)
		}
		held += st.MetaEntries
	}
	if held == 0 {
		t.Error("no node holds a record after a put")
	}

	rep, err := clients[0].Repair(ctx)
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	if rep.Namespaces == 0 && rep.Directories == 0 && rep.Chunks == 0 {
		t.Errorf("repair pass checked nothing: %+v", rep)
	}
}

// TestPutCutShortStoresNothing sends a PUT whose body ends before its
// Content-Length, as a client that crashes mid-upload does: no record may
// appear.
func TestPutCutShortStoresNothing(t *testing.T) {
	nodes, clients := startTrio(t)
	conn, err := net.Dial("tcp", nodes[0].APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "PUT /v1/ns/lab/records/short HTTP/1.1\r\nHost: node\r\nContent-Length: 100\r\n\r\n0123456789"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()

	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		t.Errorf("PUT with a body shorter than its Content-Length: status %d, want an error", resp.StatusCode)
	}
	_, err = clients[0].GetRecord(context.Background(), "", "lab", "short", &bytes.Buffer{})
	if !errors.Is(err, api.ErrNotFound) {
		t.Errorf("get of the cut-short write: error %v, want ErrNotFound", err)
	}
}

func TestCreateUserTwice(t *testing.T) {
	n := startLocal(t, t.TempDir())
	client := api.NewClient(n.APIAddr())
	ctx := context.Background()
	first, err := client.CreateUser(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}

	_, err = client.CreateUser(ctx, "bob")
	var status *api.StatusError
	if !errors.As(err, &status) {
		t.Fatalf("second CreateUser = %v, want an API status error", err)
	}
	if status.Code != api.CodeExists {
		t.Errorf("code = %q, want %q", status.Code, api.CodeExists)
	}
	if want := `user "bob" already exists`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}

	users, err := client.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range users {
		if u.Name != "bob" {
			continue
		}
		found = true
		if u.Fingerprint != first.Fingerprint {
			t.Errorf("bob's fingerprint = %s after the second create, want %s", u.Fingerprint, first.Fingerprint)
		}
	}
	if !found {
		t.Errorf("users %+v do not list bob", users)
	}
}
