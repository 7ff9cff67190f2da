package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/message"
	"github.com/yuinet/yui/network/wire"
)

// Folders of the message service under the data folder, with one file
// named KIND-ID per item. held contains the signed items this node holds
// for other nodes' users, and inbox the messages its users received. sent
// contains the encoded status of each item sent from here, and text the
// plain text of each message sent from here, because its sender cannot
// decrypt it.
const (
	msgDir      = "messages"
	msgHeldDir  = "held"
	msgInboxDir = "inbox"
	msgSentDir  = "sent"
	msgTextDir  = "text"
)

// NOTE: nothing deletes inbox, sent and text files. They grow with every
// message a local user sends or receives.

// maxMsgFiles bounds the files read from one folder at start.
const maxMsgFiles = 100000

// msgFiles keeps the message service's items in files, one per item,
// written atomically.
type msgFiles struct {
	root string
}

func openMsgFiles(dataDir string) (*msgFiles, error) {
	f := &msgFiles{root: filepath.Join(dataDir, msgDir)}
	for _, dir := range []string{msgHeldDir, msgInboxDir, msgSentDir, msgTextDir} {
		if err := os.MkdirAll(filepath.Join(f.root, dir), 0o700); err != nil {
			return nil, fmt.Errorf("node: create messages folder: %w", err)
		}
	}
	return f, nil
}

func msgFileName(key message.Key) string { return key.Kind.String() + "-" + key.ID.String() }

func (f *msgFiles) path(dir string, key message.Key) string {
	return filepath.Join(f.root, dir, msgFileName(key))
}

func (f *msgFiles) save(dir string, key message.Key, data []byte) error {
	return writeFileAtomic(f.path(dir, key), data)
}

func (f *msgFiles) remove(dir string, key message.Key) error {
	return removeFile(f.path(dir, key))
}

func (f *msgFiles) saveText(id message.ID, text []byte) error {
	return writeFileAtomic(f.path(msgTextDir, message.Key{Kind: message.KindMessage, ID: id}), text)
}

// saveRecipientName keeps the name the sender gave the recipient of a
// message sent from here, beside its text.
func (f *msgFiles) saveRecipientName(id message.ID, name string) error {
	return writeFileAtomic(f.recipientNamePath(id), []byte(name))
}

// recipientName returns the name saved by saveRecipientName, or nil.
func (f *msgFiles) recipientName(id message.ID) []byte {
	b, err := readLimited(f.recipientNamePath(id), api.MaxToName)
	if err != nil {
		return nil
	}
	return b
}

func (f *msgFiles) recipientNamePath(id message.ID) string {
	return f.path(msgTextDir, message.Key{Kind: message.KindMessage, ID: id}) + ".to"
}

// text returns the plain text of a message sent from here, or nil.
func (f *msgFiles) text(id message.ID) []byte {
	b, err := readLimited(f.path(msgTextDir, message.Key{Kind: message.KindMessage, ID: id}), message.MaxText)
	if err != nil {
		return nil
	}
	return b
}

// readDir reads every file of dir, at most limit bytes each, skipping
// and logging the unreadable ones.
func (f *msgFiles) readDir(dir string, limit int, log *slog.Logger, fn func(name string, data []byte)) {
	path := filepath.Join(f.root, dir)
	entries, err := os.ReadDir(path)
	if err != nil {
		log.Error("messages folder unreadable", "dir", path, "err", err)
		return
	}
	for i, e := range entries {
		if i == maxMsgFiles {
			log.Warn("too many message files, reading only some", "dir", path, "limit", maxMsgFiles)
			return
		}
		if strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		data, err := readLimited(filepath.Join(path, e.Name()), limit)
		if err != nil {
			log.Warn("message file unreadable, skipping it", "file", e.Name(), "err", err)
			continue
		}
		fn(e.Name(), data)
	}
}

// loadItems decodes the signed items in dir.
func (f *msgFiles) loadItems(dir string, log *slog.Logger) []*message.Item {
	var items []*message.Item
	f.readDir(dir, wire.MaxMsgItemSize, log, func(name string, data []byte) {
		it, err := message.Decode(data)
		if err != nil {
			log.Warn("message file invalid, skipping it", "file", name, "err", err)
			return
		}
		items = append(items, it)
	})
	return items
}

// loadStatuses decodes the statuses of the items sent from here.
func (f *msgFiles) loadStatuses(log *slog.Logger) []message.Status {
	var list []message.Status
	f.readDir(msgSentDir, message.MaxStatusSize, log, func(name string, data []byte) {
		st, err := message.DecodeStatus(data)
		if err != nil {
			log.Warn("message status file invalid, skipping it", "file", name, "err", err)
			return
		}
		list = append(list, st)
	})
	return list
}

// readLimited reads a regular file of at most limit bytes.
func readLimited(path string, limit int) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(file, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}
