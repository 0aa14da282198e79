using System.Globalization;
using System.Text;

namespace VidSeek.Training;

/// <summary>The human-readable traces of a run: <c>log.csv</c> and <c>training.png</c> (loss and validation R@1 per epoch).</summary>
public static class TrainingReport
{
    public static void WriteCsv(string path, IReadOnlyList<EpochLog> log)
    {
        var sb = new StringBuilder("epoch,step,train_loss,val_t2v_r1,val_v2t_r1,clip_lr,seconds\n");
        string F(double? x) => x?.ToString("0.######", CultureInfo.InvariantCulture) ?? "";
        foreach (var r in log)
            sb.Append($"{r.Epoch},{r.Step},{F(r.TrainLoss)},{F(r.ValT2vR1)},{F(r.ValV2tR1)},{F(r.ClipLr)},{F(r.Seconds)}\n");
        File.WriteAllText(path + ".tmp", sb.ToString());
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public static void WritePlot(string path, IReadOnlyList<EpochLog> log)
    {
        if (log.Count == 0) return;
        var plot = new ScottPlot.Plot();
        double[] epochs = log.Select(r => (double)r.Epoch).ToArray();
        var loss = plot.Add.Scatter(epochs, log.Select(r => r.TrainLoss).ToArray());
        loss.LegendText = "train loss";
        plot.Axes.Left.Label.Text = "InfoNCE loss";
        var withVal = log.Where(r => r.ValT2vR1.HasValue).ToList();
        if (withVal.Count > 0)
        {
            var r1 = plot.Add.Scatter(withVal.Select(r => (double)r.Epoch).ToArray(), withVal.Select(r => r.ValT2vR1!.Value).ToArray());
            r1.LegendText = "val text-to-video R@1 (%)";
            r1.Axes.YAxis = plot.Axes.Right;
            plot.Axes.Right.Label.Text = "R@1 (%)";
        }
        plot.Axes.Bottom.Label.Text = "epoch";
        plot.Title("VidSeek training");
        plot.ShowLegend(ScottPlot.Edge.Bottom); // outside the data area, so it never hides a curve
        plot.SavePng(path + ".tmp.png", 800, 450);
        File.Move(path + ".tmp.png", path, overwrite: true);
    }
}
