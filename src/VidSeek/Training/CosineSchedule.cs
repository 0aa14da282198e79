namespace VidSeek.Training;

/// <summary>Cosine decay with linear warm-up, stepped per iteration: the learning-rate factor in [0, 1].</summary>
public sealed record CosineSchedule(long TotalSteps, double WarmupFraction = 0.1)
{
    public long WarmupSteps => (long)Math.Round(TotalSteps * WarmupFraction);

    /// <summary>Factor for the update made at 0-based <paramref name="step"/>.</summary>
    public double Factor(long step)
    {
        if (step < WarmupSteps) return (step + 1.0) / WarmupSteps;
        long decay = Math.Max(1, TotalSteps - WarmupSteps);
        double progress = Math.Min(1.0, (double)(step - WarmupSteps) / decay);
        return 0.5 * (1 + Math.Cos(Math.PI * progress));
    }
}
