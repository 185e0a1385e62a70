// Package shard maps an item to the shard queue that serialises its stock.
// Every gateway and worker must use this one function with the same count, or an
// item's commands would be split over two queues and lose their order.
package shard

// Default is the number of shards when SHARDS is not set. On a small broker more
// quorum queues is slower, not faster: they compete for the broker's cores,
// and together carry fewer messages a second than a few do.
const Default = 4

// Max bounds SHARDS: each shard is a quorum queue and a consumer goroutine.
const Max = 256

// Of returns the shard, in [0, n), of item id. It is a fixed 64-bit mix (the
// SplitMix64 finaliser) so that consecutive ids spread evenly and the result never
// depends on the platform or the Go version.
func Of(id int64, n int) int {
	x := uint64(id)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return int(x % uint64(n))
}
