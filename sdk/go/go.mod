module game-gateway/sdk/go

go 1.19
