package cli

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/seal"
)

func TestReadBatchesGroupsLines(t *testing.T) {
	var in strings.Builder
	for i := range batchRequestRecords + 10 {
		fmt.Fprintf(&in, "{\"key\":\"k%d\",\"value\":\"v\"}\n\n", i)
	}
	var groups []int
	err := readBatches(strings.NewReader(in.String()), func(lines []api.BatchLine) error {
		groups = append(groups, len(lines))
		return nil
	})
	if err != nil {
		t.Fatalf("readBatches: %v", err)
	}
	if len(groups) != 2 || groups[0] != batchRequestRecords || groups[1] != 10 {
		t.Errorf("groups of %v records, want %d then 10", groups, batchRequestRecords)
	}
}

func TestReadKeysGroupsLines(t *testing.T) {
	input := "a/1\r\n\n  \na/2\na/3\na/4\na/5"
	var groups [][]string
	err := readKeys(strings.NewReader(input), 2, func(keys []string) error {
		groups = append(groups, keys)
		return nil
	})
	if err != nil {
		t.Fatalf("readKeys: %v", err)
	}
	want := [][]string{{"a/1", "a/2"}, {"a/3", "a/4"}, {"a/5"}}
	if fmt.Sprint(groups) != fmt.Sprint(want) {
		t.Errorf("groups %q, want %q", groups, want)
	}
}

func TestReadKeysErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"invalid key", "a/1\nbad\x00key\n", "line 2"},
		{"line too long", strings.Repeat("x", 70<<10), "over 64 KiB"},
	}
	for _, tt := range tests {
		err := readKeys(strings.NewReader(tt.input), batchReadKeys, func([]string) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestReadBatchesErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"bad JSON", "{\"key\":\"a\",\"value\":\"1\"}\n{oops\n", "line 2"},
		{"unknown field", `{"key":"a","value":"1","size":3}`, "unknown field"},
		{"no value", `{"key":"a"}`, "neither value nor value_base64"},
		{"line too long", `{"key":"a","value":"` + strings.Repeat("x", api.MaxBatchLine) + `"}`, "over"},
	}
	for _, tt := range tests {
		err := readBatches(strings.NewReader(tt.input), func([]api.BatchLine) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestReadBatchesStopsOnSendError(t *testing.T) {
	sendErr := errors.New("node rejected the batch")
	input := strings.Repeat("{\"key\":\"k\",\"value\":\"v\"}\n", batchRequestRecords+1)
	calls := 0
	err := readBatches(strings.NewReader(input), func([]api.BatchLine) error {
		calls++
		return sendErr
	})
	if !errors.Is(err, sendErr) || calls != 1 {
		t.Errorf("error %v after %d sends, want the send error after 1", err, calls)
	}
}

func FuzzReadBatches(f *testing.F) {
	f.Add([]byte(`{"key":"a","value":"1"}` + "\n" + `{"key":"b","value_base64":"AP8="}`))
	f.Add([]byte(`{"key":"a"}`))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, input []byte) {
		// Any input may be invalid: readBatches must not panic, and must
		// pass on only lines with a usable value.
		readBatches(bytes.NewReader(input), func(lines []api.BatchLine) error {
			if len(lines) == 0 || len(lines) > batchRequestRecords {
				t.Fatalf("send got %d lines", len(lines))
			}
			for _, l := range lines {
				if _, err := l.Bytes(); err != nil {
					t.Fatalf("send got a line without a usable value: %v", err)
				}
			}
			return nil
		})
	})
}

func FuzzReadKeys(f *testing.F) {
	f.Add([]byte("a/1\r\n\na/2\n"))
	f.Add([]byte("bad\x00key"))
	f.Fuzz(func(t *testing.T, input []byte) {
		// readKeys must not panic, and must pass on only valid keys in
		// groups of at most the size asked for.
		readKeys(bytes.NewReader(input), 3, func(keys []string) error {
			if len(keys) == 0 || len(keys) > 3 {
				t.Fatalf("send got %d keys", len(keys))
			}
			for _, k := range keys {
				if err := seal.ValidateKey(k); err != nil {
					t.Fatalf("send got an invalid key %q: %v", k, err)
				}
			}
			return nil
		})
	})
}

// keysPEM returns a keys file for a new user, as 'yui user show' prints it.
func keysPEM(t testing.TB, name string) ([]byte, []byte) {
	u, err := seal.NewUser()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := u.Public().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeKeysPEM(&buf, &api.User{Name: name, PublicKeys: keys, Fingerprint: "f"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), keys
}

func TestParseKeysFile(t *testing.T) {
	file, keys := keysPEM(t, "alice")
	got, err := parseKeysFile(file, "alice.keys", "alice")
	if err != nil || !bytes.Equal(got, keys) {
		t.Fatalf("parse alice's file as alice: %x, %v; want the keys written", got, err)
	}

	wrongType := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: keys})
	badKeys := pem.EncodeToMemory(&pem.Block{Type: keysBlockType, Bytes: []byte("not keys")})
	tests := []struct {
		name string
		data []byte
		user string
		want string
	}{
		{"other user's file", file, "bob", `keys of user "alice", not "bob"`},
		{"wrong block type", wrongType, "alice", "no \"YUI USER PUBLIC KEYS\" PEM block"},
		{"not PEM", []byte("hello"), "alice", "PEM block"},
		{"bad keys", badKeys, "alice", "alice.keys"},
		{"too large", bytes.Repeat([]byte("x"), maxKeysFile+1), "alice", "over"},
	}
	for _, tt := range tests {
		_, err := parseKeysFile(tt.data, "alice.keys", tt.user)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func FuzzParseKeysFile(f *testing.F) {
	file, _ := keysPEM(f, "alice")
	f.Add(file)
	f.Add([]byte("-----BEGIN YUI USER PUBLIC KEYS-----\n\n-----END YUI USER PUBLIC KEYS-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseKeysFile(data, "fuzz.keys", "alice")
		if err != nil {
			return
		}
		if _, err := seal.ParsePublicKeys(keys); err != nil {
			t.Fatalf("accepted keys that do not parse: %v", err)
		}
	})
}

func TestProgressAppearsOnlyPastThreshold(t *testing.T) {
	var stderr bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetErr(&stderr)

	p := &progress{cmd: cmd, size: -1, what: "get k"}
	p.Write(make([]byte, progressThreshold-1))
	if stderr.Len() != 0 || p.bar != nil {
		t.Fatalf("progress drawn below the threshold: %q", stderr.String())
	}
	p.Write(make([]byte, 2))
	p.finish(true)
	if p.bar == nil || stderr.Len() == 0 {
		t.Error("no progress drawn past the threshold")
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536 << 10, "1.5 MiB"},
		{5 << 30, "5.0 GiB"},
	}
	for _, tt := range tests {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// TestUnknownUserErrorSaysFixOnce checks that the error for a user the
// node does not have says how to create one once, not once from the
// store and again from the API.
func TestUnknownUserErrorSaysFixOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	n := startWatchedNode(t, dir)
	defer n.Close()
	root := newRootCommand()
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"ls", "sensors", "--user", "nobody", "--data-dir", dir})
	err := root.Execute()
	if err == nil {
		t.Fatal("ls as a user the node does not have succeeded")
	}
	if got := strings.Count(err.Error(), "create the user"); got > 1 {
		t.Errorf("error says %q %d times: %v", "create the user", got, err)
	}
	if !strings.Contains(err.Error(), "yui user create") {
		t.Errorf("error %q does not name 'yui user create'", err)
	}
}
