using System.Diagnostics;

namespace VidSeek.Training;

/// <summary>
/// The step loop both trainers run (<see cref="Trainer"/>, <see cref="VltTrainer"/>): one optimizer step at a time from
/// <see cref="TrainingState.GlobalStep"/>, the cosine schedule over all epochs, the epoch's end (validation, log, plot,
/// best model) and the checkpoint cadence; a run stopped mid-epoch keeps where it was. The subclasses say what one step
/// and one epoch's end are.
/// </summary>
public abstract class TrainingLoop : IDisposable
{
    protected TrainingState state = new();

    public TrainOptions Options => state.Options;
    public TrainingState State => state;
    public long StepsPerEpoch { get; protected init; }
    public long TotalSteps => StepsPerEpoch * Options.Epochs;

    /// <summary>The run folder (checkpoint/, best/, log.csv, training.png).</summary>
    protected abstract string OutputDir { get; }

    /// <summary>One optimizer step; returns its loss.</summary>
    protected abstract double TrainStep(long step, CosineSchedule schedule);

    /// <summary>After the last step of epoch <paramref name="epoch"/> (1-based): validation, log row, plot, best model.</summary>
    protected abstract void EndEpoch(int epoch, double lrFactor, Action<TrainProgress>? progress);

    /// <summary>Writes <c>OUT/checkpoint</c> atomically.</summary>
    public abstract void SaveCheckpoint();

    /// <summary>Runs until all epochs (or <see cref="TrainOptions.MaxSteps"/>) are done, or <paramref name="cancel"/> fires; saves a checkpoint either way.</summary>
    public TrainingState Run(Action<TrainProgress>? progress = null, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(OutputDir);
        var schedule = new CosineSchedule(TotalSteps, Options.WarmupFraction);
        long stop = Options.MaxSteps > 0 ? Math.Min(TotalSteps, Options.MaxSteps) : TotalSteps;
        var clock = Stopwatch.StartNew();
        double startSeconds = state.Seconds;
        while (state.GlobalStep < stop && !cancel.IsCancellationRequested)
        {
            long step = state.GlobalStep;
            int epoch = (int)(step / StepsPerEpoch);
            var stepClock = Stopwatch.StartNew();
            double loss = TrainStep(step, schedule);
            state = state with
            {
                GlobalStep = step + 1,
                EpochLossSum = state.EpochLossSum + loss,
                EpochLossSteps = state.EpochLossSteps + 1,
                Seconds = startSeconds + clock.Elapsed.TotalSeconds,
            };
            progress?.Invoke(new TrainProgress(step + 1, stop, epoch + 1, loss, Options.BatchSize / stepClock.Elapsed.TotalSeconds));

            bool epochEnd = (step + 1) % StepsPerEpoch == 0;
            if (epochEnd) EndEpoch(epoch + 1, schedule.Factor(step), progress);
            if (epochEnd || (Options.SaveEvery > 0 && (step + 1) % Options.SaveEvery == 0)) SaveCheckpoint();
        }
        if (state.GlobalStep % StepsPerEpoch != 0) SaveCheckpoint(); // stopped mid-epoch: keep where we are
        return state;
    }

    public abstract void Dispose();
}
