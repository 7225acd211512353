package door_test

import (
	"testing"

	"github.com/boxofficehq/boxoffice/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }
