// Package build builds images from Dockerfiles on wharf's own engine.
//
// The front end is BuildKit's: the Dockerfile is parsed by
// frontend/dockerfile/parser and instructions, words are expanded by its
// shell lexer, and .dockerignore is applied with moby/patternmatcher. The
// stages form a graph (FROM another stage, COPY --from): only the stages
// the target needs are built, each in its own goroutine as soon as the
// stages it reads from are done, so independent stages run in parallel.
//
// Each RUN step runs as a real container of the engine, created from the
// step's parent image (committed to the image store as a build-cache
// image), with no network unless the build asks for one; its layer is the
// container's overlay upper directory made into a tar (image/layer). COPY
// and ADD layers are written straight from the build context or from
// another image's layers (image/layerfs), without a container.
//
// # Cache
//
// Every step has a cache key, a sha256 chained from its parent's:
//
//	key(FROM image)  = H("from", image ID)            key(FROM scratch) = H("scratch")
//	key(step)        = H(key(parent), step description)
//
// where the description is the instruction after expansion (only the build
// arguments it uses), plus, for RUN, the environment, user, working
// directory, network and mounts it runs with, and for COPY and ADD (and
// the sources of RUN --mount=type=bind, which a step gets a copy of) the
// digest of every file it reads (path, type, mode, owner, size and
// content) after .dockerignore and the source stage's key or image ID. The
// store keeps key → layer (store.CacheRecord), so an unchanged step never
// runs again, also across daemon restarts; a changed file changes the key
// of its COPY and so of every step after it, and no other.
//
// A final image also lists its layer steps' keys in its config (field
// wharf.build.cache.v0, as BuildKit's inline cache), which --cache-from
// reads (cachefrom.go).
//
// File digests come from an index keyed by the file's path, size,
// modification time, inode and mode (contextIndex, as BuildKit's): a file
// whose stat did not change is not read again; a changed one is read and
// hashed, and a touched file with the same content keeps the cache.
//
// # On disk
//
// Under the directory New is given (wharf uses <root>/build):
//
//	cache/<sha256(id)>/     the directories of RUN --mount=type=cache, by id
//	tmp/                    contexts, secrets and step layers being made;
//	                        emptied at start
package build
