using VidSeek.Training;

namespace VidSeek.Cli.Commands;

/// <summary><c>train --resume RUN --epochs N</c>: checks the new length and says on stderr how the schedule changes.</summary>
internal static class ScheduleChange
{
    public static void Announce(TrainingLoop trainer, TrainingState saved, string outDir, TextWriter stderr)
    {
        long done = trainer.State.GlobalStep, oldTotal = trainer.StepsPerEpoch * saved.Options.Epochs, newTotal = trainer.TotalSteps;
        if (newTotal < done)
        {
            long epochsDone = (done + trainer.StepsPerEpoch - 1) / trainer.StepsPerEpoch;
            throw new VidSeekException($"--epochs {trainer.Options.Epochs}: {outDir} has already trained {done} steps ({epochsDone} epoch(s) begun, {trainer.StepsPerEpoch} steps each); give at least --epochs {epochsDone}");
        }
        // The cosine schedule (with its warm-up) spans the whole run, so a new total changes every factor still to come;
        // the steps already taken followed the old one. Said aloud so nobody mistakes the result for a planned N-epoch run.
        stderr.WriteLine($"--epochs {saved.Options.Epochs} -> {trainer.Options.Epochs}: total steps {oldTotal} -> {newTotal}; the cosine learning-rate schedule is recomputed for {newTotal} steps and changes from step {done + 1} on (steps 1-{done} followed the old one)");
    }
}
