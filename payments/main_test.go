package payments_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/boxofficehq/boxoffice/payments/stripemock"
)

// stripeMockURL is the stripe-mock that TestMain starts once for the package.
var stripeMockURL string

func TestMain(m *testing.M) {
	url, stop, err := stripemock.Start(testSecretKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "payments tests:", err)
		os.Exit(1)
	}
	stripeMockURL = url
	code := m.Run()
	stop()
	os.Exit(code)
}
