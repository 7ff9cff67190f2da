package node

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/storage/seal"
)

func TestParseTier(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", TierAuto, true},
		{"auto", TierAuto, true},
		{"Upper", TierUpper, true},
		{" middle ", TierMiddle, true},
		{"lower", TierLower, true},
		{"top", "", false},
	}
	for _, tt := range tests {
		got, err := parseTier(tt.in)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("parseTier(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if !tt.ok && !errors.Is(err, ErrInvalidTier) {
			t.Errorf("parseTier(%q) error %v, want ErrInvalidTier", tt.in, err)
		}
	}
}

func TestStartRejectsUnknownTier(t *testing.T) {
	_, err := Start(context.Background(), Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", API: "127.0.0.1:0",
		DiscoveryPort: -1, Tier: "top", Logger: testLogger(t),
	})
	if !errors.Is(err, ErrInvalidTier) {
		t.Fatalf("Start with tier top: error %v, want ErrInvalidTier", err)
	}
}

func TestUsersCreateAndList(t *testing.T) {
	n := startLocal(t, t.TempDir())
	client := api.NewClient(n.APIAddr())
	ctx := context.Background()

	users, err := client.Users(ctx)
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	if len(users) != 1 || users[0].Name != api.DefaultUser {
		t.Fatalf("a new node lists users %+v, want only %q", users, api.DefaultUser)
	}

	alice, err := client.CreateUser(ctx, "alice")
	if err != nil {
		t.Fatalf("CreateUser(alice): %v", err)
	}
	if _, err := seal.ParsePublicKeys(alice.PublicKeys); err != nil {
		t.Errorf("alice's public keys do not parse: %v", err)
	}
	if len(alice.Fingerprint) != 64 {
		t.Errorf("fingerprint %q is not 64 hex digits", alice.Fingerprint)
	}

	users, err = client.Users(ctx)
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	if len(users) != 2 || users[0].Name != "alice" || users[1].Name != api.DefaultUser {
		t.Fatalf("users after creating alice: %+v, want alice and default", users)
	}
	if string(users[0].PublicKeys) != string(alice.PublicKeys) {
		t.Error("listed keys of alice differ from the created ones")
	}
}

func TestCreateUserErrors(t *testing.T) {
	n := startLocal(t, t.TempDir())
	client := api.NewClient(n.APIAddr())
	ctx := context.Background()

	if _, err := client.CreateUser(ctx, "bob"); err != nil {
		t.Fatalf("CreateUser(bob): %v", err)
	}
	_, err := client.CreateUser(ctx, "bob")
	if !errors.Is(err, api.ErrExists) {
		t.Errorf("second CreateUser(bob): error %v, want ErrExists", err)
	}
	for _, name := range []string{"", "Bob", "../etc", "-x", strings.Repeat("a", 65)} {
		_, err := client.CreateUser(ctx, name)
		if !errors.Is(err, api.ErrInvalid) {
			t.Errorf("CreateUser(%q): error %v, want ErrInvalid", name, err)
		}
	}
}

func TestDefaultUserKeptAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	n := startLocal(t, dir)
	first, err := api.NewClient(n.APIAddr()).Users(context.Background())
	if err != nil {
		t.Fatalf("Users: %v", err)
	}
	n.Close()

	n = startLocal(t, dir)
	again, err := api.NewClient(n.APIAddr()).Users(context.Background())
	if err != nil {
		t.Fatalf("Users after restart: %v", err)
	}
	if len(again) != 1 || again[0].Fingerprint != first[0].Fingerprint {
		t.Fatalf("default user after restart %+v, want the same keys as before %+v", again, first)
	}
}

func TestClosestFindsOthers(t *testing.T) {
	base := t.TempDir()
	first := startLocal(t, filepath.Join(base, "a"))
	nodes := []*Node{first}
	for _, name := range []string{"b", "c", "d"} {
		nodes = append(nodes, startLocal(t, filepath.Join(base, name), first.Addr().String()))
	}
	for _, n := range nodes {
		waitFor(t, n.ID().Short()+" to know the 3 others", func() bool { return len(n.Peers()) == 3 })
	}

	target := identity.KeyID([]byte("chunk"))
	got, err := nodes[2].storage.net.Closest(context.Background(), target, 10)
	if err != nil {
		t.Fatalf("Closest: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("Closest returned %d nodes, want the 3 other nodes", len(got))
	}
	seen := make(map[identity.NodeID]bool)
	for i, c := range got {
		seen[c.ID] = true
		if i > 0 && identity.CloserTo(target, c.ID, got[i-1].ID) {
			t.Errorf("result %d is closer to the target than result %d", i, i-1)
		}
	}
	for i, n := range nodes {
		if seen[n.ID()] != (i != 2) {
			t.Errorf("Closest lists node %d: %v, want true for every node but the asking one", i, seen[n.ID()])
		}
	}

	two, err := nodes[2].storage.net.Closest(context.Background(), target, 2)
	if err != nil {
		t.Fatalf("Closest(2): %v", err)
	}
	if len(two) != 2 || two[0].ID != got[0].ID || two[1].ID != got[1].ID {
		t.Errorf("Closest(2) = %v, want the first two of %v", two, got)
	}
}

func TestReadBatch(t *testing.T) {
	long := `{"key":"k","value":"` + strings.Repeat("x", api.MaxBatchLine) + `"}`
	tests := []struct {
		name, body string
		keys       []string
		values     []string
		wantErr    string
	}{
		{"text and base64", "{\"key\":\"a\",\"value\":\"1\"}\n\n{\"key\":\"b\",\"value_base64\":\"AP8=\",\"content_type\":\"x/y\"}\n",
			[]string{"a", "b"}, []string{"1", "\x00\xff"}, ""},
		{"empty value", `{"key":"a","value":""}`, []string{"a"}, []string{""}, ""},
		{"both values", `{"key":"a","value":"1","value_base64":"AA=="}`, nil, nil, "line 1"},
		{"no value", "\n" + `{"key":"a"}`, nil, nil, "line 2"},
		{"bad base64", `{"key":"a","value_base64":"!!"}`, nil, nil, "invalid value_base64"},
		{"unknown field", `{"key":"a","value":"1","extra":1}`, nil, nil, "unknown field"},
		{"two values on a line", `{"key":"a","value":"1"} {"key":"b","value":"2"}`, nil, nil, "more than one"},
		{"empty batch", "\n\n", nil, nil, "batch is empty"},
		{"line too long", long, nil, nil, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := readBatch(strings.NewReader(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if !errors.Is(err, api.ErrInvalid) {
					t.Errorf("error %v does not wrap api.ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("readBatch: %v", err)
			}
			if len(recs) != len(tt.keys) {
				t.Fatalf("got %d records, want %d", len(recs), len(tt.keys))
			}
			for i, r := range recs {
				if r.Key != tt.keys[i] || string(r.Value) != tt.values[i] {
					t.Errorf("record %d = %q:%q, want %q:%q", i, r.Key, r.Value, tt.keys[i], tt.values[i])
				}
			}
		})
	}
}

func FuzzReadBatch(f *testing.F) {
	f.Add([]byte(`{"key":"a","value":"1"}` + "\n" + `{"key":"b","value_base64":"AP8="}`))
	f.Add([]byte(`{"key":"a","value":"1","value_base64":"AA=="}`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := readBatch(strings.NewReader(string(body)))
		if err != nil {
			if !errors.Is(err, api.ErrInvalid) && !strings.Contains(err.Error(), "read batch body") {
				t.Fatalf("error %v is neither invalid input nor a read failure", err)
			}
			return
		}
		if len(recs) == 0 || len(recs) > api.MaxBatchRecords {
			t.Fatalf("accepted a batch of %d records", len(recs))
		}
	})
}
