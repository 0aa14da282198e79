using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace VidSeek.Web;

/// <summary>
/// The one IP address <c>vidseek serve --host</c> listens on. Kestrel, given a URL whose host is neither an IP literal nor
/// <c>localhost</c>, listens on <em>all</em> interfaces, so a typo (<c>127.0.0.l</c>, <c>256.1.1.1</c>) or an unresolvable
/// name would silently publish the index to the network. Here the host becomes exactly one address or an error:
/// <list type="bullet">
/// <item>a dotted IPv4 literal, strictly: four decimal parts 0..255 (.NET's parser also takes <c>127.1</c>, <c>0x7f.0.0.1</c>
/// and <c>2130706433</c>, which nobody types on purpose);</item>
/// <item>an IPv6 literal, with or without brackets;</item>
/// <item><c>localhost</c>: 127.0.0.1 (IPv4 only, so that <c>--port 0</c> gets one port);</item>
/// <item>any other name: resolved once, at start, to its first address (IPv4 first); a name that does not resolve is an
/// error. The server then listens on that address only, so a name can never widen the bind; an address that is not this
/// machine's fails to bind, also an error.</item>
/// </list>
/// The wildcard addresses <c>0.0.0.0</c> and <c>::</c> are accepted when typed: listening on every interface is then the
/// user's explicit choice (<see cref="IsWildcard"/>; <c>vidseek serve</c> warns).
/// </summary>
public static partial class ListenAddress
{
    [GeneratedRegex(@"^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$")]
    private static partial Regex DottedQuad();

    [GeneratedRegex(@"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$")]
    private static partial Regex HostName();

    /// <summary>The address to listen on for <paramref name="host"/>; a <see cref="VidSeekException"/> naming it otherwise.</summary>
    public static IPAddress Resolve(string host, TimeSpan? dnsTimeout = null)
    {
        string h = host.Trim();
        if (h.Length == 0 || h != host) throw Bad(host, "it is empty or has spaces");
        if (DottedQuad().Match(h) is { Success: true } quad)
        {
            var bytes = new byte[4];
            for (int i = 0; i < 4; i++)
            {
                int part = int.Parse(quad.Groups[i + 1].Value, CultureInfo.InvariantCulture);
                if (part > 255) throw Bad(host, $"{part} is not a number from 0 to 255");
                bytes[i] = (byte)part;
            }
            return new IPAddress(bytes);
        }
        if (h.Contains('/')) throw Bad(host, "it is neither an IP address nor a host name (no scheme or path: 127.0.0.1, not http://127.0.0.1)");
        if (h.Contains(':'))
        {
            string literal = h.StartsWith('[') && h.EndsWith(']') ? h[1..^1] : h;
            if (IPAddress.TryParse(literal, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6 && !literal.Contains('%')) return v6;
            throw Bad(host, "it is not an IPv6 address");
        }
        if (h.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return IPAddress.Loopback;
        // Digits and dots only, but not four parts (127.1, 2130706433): an IPv4 typo, never a name.
        if (h.All(c => char.IsAsciiDigit(c) || c == '.')) throw Bad(host, "an IPv4 address has four parts from 0 to 255, as in 127.0.0.1");
        if (!HostName().IsMatch(h) || h.Length > 253) throw Bad(host, "it is neither an IP address nor a host name");
        // The resolver would read 0x7f.0.0.1 or 127.0.0.01 as IPv4 (inet_aton); a top-level domain is never numeric (RFC 3696).
        string last = h.TrimEnd('.').Split('.')[^1];
        if (last.All(char.IsAsciiDigit) || last.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && h.Split('.').Length <= 4 && h.Contains('.'))
            throw Bad(host, "an IPv4 address has four parts from 0 to 255, as in 127.0.0.1");

        IPAddress[] addresses;
        try
        {
            var lookup = Dns.GetHostAddressesAsync(h);
            if (!lookup.Wait(dnsTimeout ?? TimeSpan.FromSeconds(10))) throw Bad(host, "the name did not resolve within 10 s");
            addresses = lookup.Result;
        }
        catch (AggregateException e) when (e.InnerException is SocketException or ArgumentException)
        {
            throw Bad(host, $"the name does not resolve ({e.InnerException.Message})");
        }
        return addresses.OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).FirstOrDefault()
            ?? throw Bad(host, "the name resolves to no address");
    }

    /// <summary>0.0.0.0 or ::, every interface of the machine.</summary>
    public static bool IsWildcard(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    private static VidSeekException Bad(string host, string why) =>
        new($"--host '{host}' is not an address to listen on: {why} (default 127.0.0.1, this machine only)");
}
