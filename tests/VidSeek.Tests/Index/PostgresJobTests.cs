using VidSeek.Index;

namespace VidSeek.Tests.Index;

/// <summary>The job table that several indexers share (<see cref="ISharedIndexStore"/>), driven directly, worker by worker.</summary>
public partial class PostgresIndexStoreTests
{
    [Fact]
    public void ClaimsAreExclusiveExpiredLeasesAreTakenOverAndOnlyTheHolderWrites()
    {
        string url = server.NewIndexUrl();
        using var store = (PostgresIndexStore)IndexStore.OpenOrCreate(url, Manifest3);
        var lease = TimeSpan.FromSeconds(60);
        store.Enqueue(["b.mp4", "a.mp4"]);
        store.Enqueue(["a.mp4"]);                                                   // queued already: left as it is
        Assert.Equal(2, store.PendingJobs);

        string? first = store.Claim("w1", lease), second = store.Claim("w2", lease);
        Assert.Equal(("a.mp4", "b.mp4"), (first, second));                          // different jobs, in path order
        Assert.Null(store.Claim("w3", lease));                                      // both held under live leases
        Assert.Equal(1, store.Renew("w1", lease));
        Assert.Equal(0, store.Renew("w9", lease));

        // w1's lease runs out (made to, behind its back, as if it had stopped renewing): w3 takes the job over, w1's late
        // write is refused and writes nothing, w3's lands, and nobody can write the finished job again.
        server.Execute(url, $"UPDATE {Schema(url)}.jobs SET lease_until = clock_timestamp() - interval '1 second' WHERE worker = 'w1'");
        Assert.Equal("a.mp4", store.Claim("w3", lease));
        long generation = store.Generation;
        Assert.False(store.PutClaimed("w1", Video("a.mp4"), [Segment(0, 1)]));
        Assert.Equal((0, generation), (store.VideoCount, store.Generation));
        Assert.True(store.PutClaimed("w3", Video("a.mp4"), [Segment(0, 2)]));
        Assert.False(store.PutClaimed("w3", Video("a.mp4"), [Segment(0, 3)]));
        Assert.Equal(1, store.VideoCount);
        Assert.Equal(2f, store.Segments().Single().Coarse[0]);
        Assert.Equal(1, store.PendingJobs);

        // Released jobs are claimable at once; only the holder ends a job.
        store.Release("w2");
        Assert.Equal("b.mp4", store.Claim("w4", lease));
        store.Finish("b.mp4", "w2");
        Assert.Equal(1, store.PendingJobs);
        store.Finish("b.mp4", "w4");
        Assert.Equal(0, store.PendingJobs);
        Assert.Null(store.Claim("w1", lease));
    }
}
