using VidSeek.Index;
using VidSeek.Tests.Index;
using VidSeek.Web;

namespace VidSeek.Tests.Web;

/// <summary>
/// A running <see cref="SearchServer"/> on a free port over an index that a subclass builds with the tiny test model
/// (<see cref="IndexFixture"/>); the fixture owns the model folder, the index and the server.
/// </summary>
public abstract class IndexedServerFixture : IAsyncLifetime
{
    protected readonly IndexFixture Models = new();
    public SearchServer Server { get; private set; } = null!;
    public HttpClient Http { get; } = new();
    /// <summary>The index file the server serves.</summary>
    public string Index { get; private set; } = "";

    /// <summary>Builds the index under <see cref="IndexFixture.Tmp"/> and returns its path.</summary>
    protected abstract string BuildIndex();

    /// <summary>Indexes <paramref name="videos"/> (under <paramref name="root"/>) into <paramref name="index"/> with 4 frames a video.</summary>
    protected string Build(string index, IReadOnlyList<IndexSourceVideo> videos, string root)
    {
        using var model = IndexModel.Open(Models.Model, 4);
        using var store = IndexStore.OpenOrCreate(index, model.Manifest(Models.Model, 4, root));
        IndexBuilder.Update(store, model, videos);
        return index;
    }

    public async ValueTask InitializeAsync()
    {
        Index = BuildIndex();
        Server = await SearchServer.StartAsync(VideoSearcher.Open(Index), new ServeOptions { Port = 0 });
        Http.BaseAddress = new Uri(Server.Url);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Models.Dispose();
    }
}
