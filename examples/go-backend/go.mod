module game-gateway/examples/go-backend

go 1.19

require game-gateway/sdk/go v0.0.0

// The SDK from this repository's checkout; a studio's service points this at
// its own copy (or drops it once the module is published).
replace game-gateway/sdk/go => ../../sdk/go
