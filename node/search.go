package node

import (
	"context"

	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/search"
)

// searchLayer is the node's part of encrypted search: the index holder
// that serves peers, and the writer and querier that serve local users.
// index is set before the node listens, writer and querier before the
// API starts, and none changes afterwards.
type searchLayer struct {
	index   *search.Index
	writer  *search.Writer
	querier *search.Querier
	// sealer adds ciphertexts to the writes of sealed namespaces.
	sealer *ingestSealer
}

// openSearch opens the index holder on the store's engine before the
// node listens, so that the first index message from a peer finds it.
// It accepts postings only while the node is in the upper tier.
func (n *Node) openSearch() error {
	s := n.storage
	index, err := search.NewIndex(search.IndexConfig{
		Self:    n.id.ID,
		Engine:  s.db,
		Tier:    s.holder.Tier,
		Disk:    s.db.DiskUsage,
		MinFree: minFreeDisk,
		Logger:  n.cfg.Logger,
	})
	if err != nil {
		return err
	}
	n.search = &searchLayer{index: index}
	return nil
}

// startSearch starts the writer and querier on the running store, and
// makes the writer the sink of every ingest path.
func (n *Node) startSearch() error {
	cfg := search.Config{
		Store:   n.storage.store,
		Network: n.storage.net,
		Index:   n.search.index,
		Logger:  n.cfg.Logger,
	}
	n.search.sealer = newIngestSealer(n)
	cfg.Sealer = n.search.sealer
	var err error
	if n.search.writer, err = search.NewWriter(cfg); err != nil {
		return err
	}
	if n.search.querier, err = search.NewQuerier(cfg); err != nil {
		return err
	}
	n.readings = n.search.writer
	return nil
}

// handleSearch serves an index message from a peer with the local index
// holder, which rejects it with CodeNotHolder outside the upper tier.
func (n *Node) handleSearch(ctx context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
	if !isRequest {
		return nil
	}
	if n.search == nil {
		return &wire.Error{Code: wire.CodeNotHolder, Message: "this node holds no index"}
	}
	if resp := n.search.index.HandleMessage(ctx, from, msg); resp != nil {
		return resp
	}
	return &wire.Error{Code: wire.CodeUnsupported, Message: "unsupported search message " + msg.Type().String()}
}
