package booking_test

import (
	"testing"

	"boxoffice/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }
