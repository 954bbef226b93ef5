package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"parley/client"
	"parley/model"
)

// exampleUser registers a user for an example; the examples run against a
// fresh server, at exampleURL.
func exampleUser(name string) *client.Client {
	c, err := client.New(exampleURL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Register(context.Background(), client.RegisterRequest{Username: name, Password: "a long password"}); err != nil {
		log.Fatal(err)
	}
	return c
}

// Register, create a channel and post to it.
func Example() {
	ctx := context.Background()
	c, err := client.New(exampleURL, client.Options{}) // such as "https://chat.example.com"
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Register(ctx, client.RegisterRequest{Username: "ada", Password: "a long password"}); err != nil {
		log.Fatal(err)
	}
	general, err := c.CreateChannel(ctx, client.ChannelRequest{Name: "general", Topic: "Anything goes"})
	if err != nil {
		log.Fatal(err)
	}
	m, err := c.PostMessage(ctx, general.ID, client.MessageRequest{Body: "Hello, Parley"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("#%s %d: %s\n", general.Title(), m.Seq, m.Body)
	// Output: #general 1: Hello, Parley
}

// Follow every change in the user's conversations, exactly once and in
// order, across reconnects.
func ExampleClient_Subscribe() {
	ctx := context.Background()
	grace, linus := exampleUser("grace"), exampleUser("linus")
	dm, err := grace.OpenDirect(ctx, linus.Session().User.ID)
	if err != nil {
		log.Fatal(err)
	}

	sub := linus.Subscribe(ctx, nil)
	defer sub.Close()
	posted := false
	for u := range sub.Updates() {
		switch u.Type {
		case client.Joined:
			fmt.Println("conversation", u.Conversation.Kind)
		case client.Synced:
			// In sync: from here on, each change arrives as it happens.
			if !posted {
				posted = true
				if _, err := grace.PostMessage(ctx, dm.ID, client.MessageRequest{Body: "Hi Linus"}); err != nil {
					log.Fatal(err)
				}
			}
		case client.MessageChanged:
			fmt.Println(u.EventSeq, u.Change, u.Message.Body)
			if u.Change == model.EventMessageUpdated {
				return
			}
			if _, err := grace.EditMessage(ctx, u.Message.ID, "Hi Linus!"); err != nil {
				log.Fatal(err)
			}
		case client.Disconnected:
			// It reconnects by itself; a real app shows u.Err.
		}
	}
	// Output:
	// conversation direct
	// 1 message.created Hi Linus
	// 2 message.updated Hi Linus!
}

// Errors from the server carry the API's stable code.
func ExampleError() {
	ctx := context.Background()
	c := exampleUser("barbara")
	_, err := c.PostMessage(ctx, 999999, client.MessageRequest{Body: "anyone?"})
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Code)
	}
	_, err = c.CreateChannel(ctx, client.ChannelRequest{Name: "no spaces allowed"})
	if errors.As(err, &apiErr) && apiErr.Code == model.EInvalid {
		fmt.Println(apiErr.Fields["name"] != "")
	}
	// Output:
	// 404 not_found
	// true
}

// A login kept between runs: resume it with its Session, and hand renewed
// sessions to a SessionStore (cmd/parley keeps them in a file).
func ExampleNew_resume() {
	ctx := context.Background()
	saved := exampleUser("edsger").Session() // stored by an earlier run
	saved.Expiry = time.Now()                // its access token has expired since

	c, err := client.New(exampleURL, client.Options{Session: saved})
	if err != nil {
		log.Fatal(err)
	}
	me, err := c.Me(ctx) // renews the login first
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.Username, c.Session().RefreshToken != saved.RefreshToken)
	// Output: edsger true
}
