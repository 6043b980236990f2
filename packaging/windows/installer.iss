; Inno Setup script: setup.exe for the app folder built by packaging/build.py.
;
;   iscc /DAppVersion=0.1.0 /DAppDir=C:\...\dist\embeddinggemma-rag ^
;        /DIconFile=C:\...\build\icons\embeddinggemma-rag.ico /DOutputDir=C:\...\dist ^
;        packaging\windows\installer.iss
;
; Per-user install by default (no administrator rights needed, the usual case for a
; desktop app), with a Start-menu shortcut; the dialog offers an all-users install too.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef AppDir
  #define AppDir "..\..\dist\embeddinggemma-rag"
#endif
#ifndef IconFile
  #define IconFile "..\..\build\icons\embeddinggemma-rag.ico"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#define AppName "EmbeddingGemma RAG"
#define ExeName "embeddinggemma-rag.exe"

[Setup]
; The AppId identifies the app to Windows across versions (upgrades, uninstall): never change it.
AppId={{A78AFBD0-ECA2-4EE2-A6B1-E44B4928BB66}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=EmbeddingGemma RAG developers
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=embeddinggemma-rag-{#AppVersion}-windows-x64-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\{#ExeName}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole onedir folder: embeddinggemma-rag.exe (window), embeddinggemma-rag-cli.exe
; (command line), the CPU backend DLLs beside them and _internal\.
Source: "{#AppDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#ExeName}"; Comment: "Ask questions about your documents, offline"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#ExeName}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#ExeName}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
