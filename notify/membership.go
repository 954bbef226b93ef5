package notify

import (
	"context"

	"parley/model"
)

// Membership tells the Hub which conversations a user belongs to. The Hub
// asks when a connection opens, and again for every connected user after a
// gap in events; in between, conversation.joined and conversation.left
// events keep its copy current.
type Membership interface {
	// ConversationIDs returns every conversation user is a member of.
	ConversationIDs(ctx context.Context, user model.UserID) ([]model.ConversationID, error)
	// MemberCounts returns how many members each of convs has; a
	// conversation with none, or that does not exist, may be left out.
	MemberCounts(ctx context.Context, convs []model.ConversationID) (map[model.ConversationID]int, error)
}
