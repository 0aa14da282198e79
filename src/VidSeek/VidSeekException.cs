namespace VidSeek;

/// <summary>
/// An error caused by the user's input (a file, a folder, an option), with a message that names it.
/// The CLI prints <see cref="Exception.Message"/> as one line and exits non-zero, without a stack trace;
/// any other exception type is a bug in VidSeek and is shown in full.
/// </summary>
public class VidSeekException : Exception
{
    public VidSeekException(string message) : base(message) { }
    public VidSeekException(string message, Exception inner) : base(message, inner) { }
}
