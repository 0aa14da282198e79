namespace VidSeek.Training;

/// <summary>What a front end needs of a trainer (<see cref="Trainer"/>, <see cref="VltTrainer"/>) to run it with a progress bar.</summary>
public interface ITrainingRun : IDisposable
{
    TrainOptions Options { get; }
    TrainingState State { get; }
    long StepsPerEpoch { get; }
    long TotalSteps { get; }

    /// <summary>Runs until all epochs (or <see cref="TrainOptions.MaxSteps"/>) are done or <paramref name="cancel"/> fires; saves a checkpoint either way.</summary>
    TrainingState Run(Action<TrainProgress>? progress, CancellationToken cancel);
}
