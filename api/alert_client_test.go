package api

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func readEvents(t *testing.T, stream string) ([]Alert, error) {
	t.Helper()
	var got []Alert
	err := readAlertEvents(bufio.NewScanner(strings.NewReader(stream)), func(a Alert) error {
		got = append(got, a)
		return nil
	})
	return got, err
}

func TestReadAlertEvents(t *testing.T) {
	stream := ": watching alerts\n\n" +
		"event: alert\ndata: {\"id\":\"aa\",\"level\":\"evacuate\",\"text\":\"Go uphill\"}\n\n" +
		": keep-alive\n\n" +
		"event: other\ndata: {\"id\":\"bb\"}\n\n" +
		"event: alert\ndata: {\"id\":\"cc\",\"text\":\"Stay in\"}\n\n"
	got, err := readEvents(t, stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("read %d alerts, want 2: %+v", len(got), got)
	}
	if got[0].ID != "aa" || got[0].Level != "evacuate" || got[0].Text != "Go uphill" {
		t.Errorf("first alert = %+v", got[0])
	}
	if got[1].ID != "cc" {
		t.Errorf("second alert ID = %q, want cc (the other event skipped)", got[1].ID)
	}
}

func TestReadAlertEventsRejects(t *testing.T) {
	if _, err := readEvents(t, "event: alert\ndata: {not json\n\n"); err == nil {
		t.Error("invalid JSON accepted")
	}
	long := "event: alert\ndata: " + strings.Repeat("x", maxAlertEvent+1) + "\n\n"
	if _, err := readEvents(t, long); err == nil {
		t.Error("event over the size limit accepted")
	}

	stop := errors.New("stop")
	err := readAlertEvents(bufio.NewScanner(strings.NewReader("event: alert\ndata: {}\n\n")),
		func(Alert) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("callback error = %v, want it returned", err)
	}
}

func FuzzReadAlertEvents(f *testing.F) {
	f.Add("event: alert\ndata: {\"id\":\"aa\"}\n\n")
	f.Add(": comment\n\nevent: alert\ndata: {}\ndata: {}\n\n")
	f.Fuzz(func(t *testing.T, stream string) {
		readAlertEvents(bufio.NewScanner(strings.NewReader(stream)), func(Alert) error { return nil })
	})
}
