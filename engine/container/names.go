package container

import (
	"crypto/rand"
	"math/big"
)

// Generated names follow docker's adjective_surname pattern, so that
// scripts and people used to docker's `ps` feel at home.
var (
	adjectives = []string{"agile", "bold", "brave", "calm", "clever", "cool", "eager", "fervent", "gentle", "happy",
		"jolly", "keen", "kind", "lucid", "merry", "modest", "nimble", "proud", "quiet", "serene", "sharp",
		"stoic", "sweet", "tender", "upbeat", "vivid", "wise", "witty", "zealous", "quirky"}
	surnames = []string{"babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "fermi", "gauss",
		"hopper", "hypatia", "kepler", "knuth", "lamport", "liskov", "lovelace", "meitner", "newton", "noether",
		"pascal", "ritchie", "shannon", "tesla", "thompson", "torvalds", "turing", "wozniak", "yalow", "wu", "ptolemy"}
)

func pick(list []string) string {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
	return list[n.Int64()]
}

func randomName() string { return pick(adjectives) + "_" + pick(surnames) }
